// Desktop end-to-end test for Cairn.
//
// Drives the real Tauri app through tauri-driver (which spawns WebKitWebDriver) using the
// W3C WebDriver HTTP protocol directly. Zero npm dependencies: Node 20 built-ins only.
//
//   CAIRN_DESKTOP_BIN   absolute path of the built app binary (required)
//   CAIRN_DESKTOP_ARGS  optional JSON array of extra CLI args for the app
//   WEBDRIVER_URL       tauri-driver endpoint (default http://127.0.0.1:4444)
//   E2E_EXPECT_DATASET  a data set name that must be listed (e.g. breast_cancer)
//   E2E_EXPECT_RUN      a run name that must be listed with status "finished"
//   SCREENSHOT_DIR      where PNGs go (default <repo>/target/e2e)
//
// Run: node --test tests/e2e/desktop.test.mjs   (see tests/e2e/README.md)

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = process.env.CAIRN_DESKTOP_BIN ?? '';
const APP_ARGS = process.env.CAIRN_DESKTOP_ARGS ? JSON.parse(process.env.CAIRN_DESKTOP_ARGS) : [];
const WEBDRIVER_URL = (process.env.WEBDRIVER_URL || 'http://127.0.0.1:4444').replace(/\/+$/, '');
const EXPECT_DATASET = process.env.E2E_EXPECT_DATASET ?? '';
const EXPECT_RUN = process.env.E2E_EXPECT_RUN ?? '';
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR
  ? path.resolve(process.env.SCREENSHOT_DIR)
  : path.join(REPO_ROOT, 'target', 'e2e');

const READY_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 250;
const ELEMENT_KEY = 'element-6066-11e4-a52e-4f735466cecf';

/** UI message catalogues, so expectations follow the real translations. */
const readCatalogue = (name) =>
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'ui', 'src', 'locales', `${name}.json`), 'utf8'));
const EN = readCatalogue('en');
const ZH = readCatalogue('zh-CN');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const cssString = (value) => JSON.stringify(String(value)); // safe for CSS attribute selectors

// ---------------------------------------------------------------------------------------------
// Minimal W3C WebDriver client
// ---------------------------------------------------------------------------------------------

class WebDriverError extends Error {
  constructor(method, urlPath, status, value) {
    const code = value?.error ?? `http ${status}`;
    super(`${method} ${urlPath} -> ${code}: ${value?.message ?? JSON.stringify(value)}`);
    this.code = code;
  }
}

async function request(method, urlPath, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json; charset=utf-8';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`${WEBDRIVER_URL}${urlPath}`, init);
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    throw new WebDriverError(method, urlPath, response.status, { message: text.slice(0, 500) });
  }
  const value = json?.value;
  // W3C errors: non-2xx with { value: { error, message } }. Legacy JSON wire: { status: n != 0 }.
  if (!response.ok || (value && typeof value === 'object' && typeof value.error === 'string')) {
    throw new WebDriverError(method, urlPath, response.status, value);
  }
  if (typeof json.status === 'number' && json.status !== 0) {
    throw new WebDriverError(method, urlPath, response.status, { error: `status ${json.status}`, ...value });
  }
  return json;
}

const elementId = (ref) => {
  const id = ref?.[ELEMENT_KEY] ?? ref?.ELEMENT;
  if (!id) throw new Error(`not an element reference: ${JSON.stringify(ref)}`);
  return id;
};

class Session {
  constructor(id) {
    this.id = id;
    this.base = `/session/${encodeURIComponent(id)}`;
  }

  static async create(application, args) {
    const tauriOptions = { application, args };
    // tauri-driver rewrites `tauri:options` (in alwaysMatch and in the classic
    // desiredCapabilities) into WebKitWebDriver's `webkitgtk:browserOptions`.
    const body = (extra) => ({
      capabilities: { alwaysMatch: { 'tauri:options': tauriOptions, ...extra }, firstMatch: [{}] },
      desiredCapabilities: { 'tauri:options': tauriOptions, ...extra },
    });
    let json;
    try {
      // wry reports itself to WebKit's automation as browser "wry" (as in Tauri's Selenium docs).
      json = await request('POST', '/session', body({ browserName: 'wry' }));
    } catch (error) {
      if (error.code !== 'session not created' && error.code !== 'invalid argument') throw error;
      json = await request('POST', '/session', body({}));
    }
    const id = json.value?.sessionId ?? json.sessionId;
    assert.ok(id, `no session id in response: ${JSON.stringify(json)}`);
    return new Session(id);
  }

  async cmd(method, suffix, body) {
    return (await request(method, `${this.base}${suffix}`, body)).value;
  }

  delete() {
    return request('DELETE', this.base);
  }

  execute(script, ...args) {
    return this.cmd('POST', '/execute/sync', { script, args });
  }

  executeAsync(script, ...args) {
    return this.cmd('POST', '/execute/async', { script, args });
  }

  async find(css, from) {
    const prefix = from ? `/element/${elementId(from)}` : '';
    return this.cmd('POST', `${prefix}/element`, { using: 'css selector', value: css });
  }

  async findAll(css) {
    return this.cmd('POST', '/elements', { using: 'css selector', value: css });
  }

  text(el) {
    return this.cmd('GET', `/element/${elementId(el)}/text`);
  }

  attribute(el, name) {
    return this.cmd('GET', `/element/${elementId(el)}/attribute/${encodeURIComponent(name)}`);
  }

  async click(el) {
    try {
      await this.cmd('POST', `/element/${elementId(el)}/click`, {});
    } catch (error) {
      // Some WebKitWebDriver builds reject clicks they consider obscured/not interactable;
      // a DOM click exercises the same handler.
      if (!['element click intercepted', 'element not interactable'].includes(error.code)) throw error;
      await this.execute('arguments[0].click();', el);
    }
  }

  async screenshot(file) {
    // Let Svelte flush and the compositor paint before capturing.
    await this.executeAsync(
      'const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(done));',
    );
    const base64 = await this.cmd('GET', '/screenshot');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.from(base64, 'base64'));
    return file;
  }

  /** Poll a boolean-returning script until true; transient errors (page loading) are retried. */
  async waitFor(description, script, args = [], timeoutMs = READY_TIMEOUT_MS) {
    const deadline = Date.now() + timeoutMs;
    let lastError;
    while (Date.now() < deadline) {
      try {
        if (await this.execute(script, ...args)) return;
      } catch (error) {
        lastError = error;
      }
      await sleep(POLL_INTERVAL_MS);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${lastError ? ` (last error: ${lastError.message})` : ''}`);
  }

  waitForText(css, expected, timeoutMs) {
    return this.waitFor(
      `${css} to read ${JSON.stringify(expected)}`,
      'const el = document.querySelector(arguments[0]); return !!el && el.textContent.trim() === arguments[1];',
      [css, expected],
      timeoutMs,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

describe('Cairn desktop app', { timeout: 180_000 }, () => {
  /** @type {Session | undefined} */
  let session;

  /** Run a step; on failure save a screenshot + page source next to the others. */
  async function step(name, fn) {
    try {
      await fn();
    } catch (error) {
      if (session) {
        const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
        try {
          await session.screenshot(path.join(SCREENSHOT_DIR, `failure-${slug}.png`));
          const source = await session.cmd('GET', '/source');
          fs.writeFileSync(path.join(SCREENSHOT_DIR, `failure-${slug}.html`), String(source));
        } catch {
          // best effort only
        }
      }
      throw error;
    }
  }

  before(async () => {
    assert.ok(BIN, 'CAIRN_DESKTOP_BIN must be set to the absolute path of the app binary');
    assert.ok(path.isAbsolute(BIN), `CAIRN_DESKTOP_BIN must be absolute, got ${BIN}`);
    assert.ok(fs.existsSync(BIN), `CAIRN_DESKTOP_BIN does not exist: ${BIN}`);
    assert.ok(Array.isArray(APP_ARGS), 'CAIRN_DESKTOP_ARGS must be a JSON array');
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    session = await Session.create(BIN, APP_ARGS);
    await session.cmd('POST', '/timeouts', { script: 30_000, pageLoad: 60_000, implicit: 0 }).catch(() => {});
    // Best effort: a stable, reviewable screenshot size.
    await session.cmd('POST', '/window/rect', { width: 1280, height: 800 }).catch(() => {});
  });

  after(async () => {
    if (session) {
      await session.delete().catch((error) => console.error(`failed to delete session: ${error.message}`));
      session = undefined;
    }
  });

  it('loads the workspace overview', async () => {
    await step('ready', async () => {
      await session.waitFor('main[data-ready="true"]', 'return !!document.querySelector(\'main[data-ready="true"]\');');
      // Force English regardless of the machine locale / a previous run's stored choice.
      await session.click(await session.find('[data-testid="locale-en"]'));
      await session.waitFor('English UI', 'return document.documentElement.lang === "en";');
      await session.waitForText('[data-testid="page-title"]', EN['overview.title']);
    });

    await step('no error', async () => {
      const errors = await session.findAll('[data-testid="error"]');
      if (errors.length > 0) {
        assert.fail(`the UI shows an error banner: ${await session.text(errors[0])}`);
      }
      // textContent, not WebDriver's rendered text: the path box truncates long paths with CSS.
      const workspacePath = await session.execute(
        'return document.querySelector(\'[data-testid="workspace-path"]\').textContent;',
      );
      assert.ok(String(workspacePath).trim().startsWith('/'), `workspace path is ${JSON.stringify(workspacePath)}`);
    });
  });

  it('lists the expected data set', async () => {
    assert.ok(EXPECT_DATASET, 'E2E_EXPECT_DATASET must be set');
    await step('dataset row', async () => {
      const row = await session.find(`tr[data-testid="dataset-row"][data-name=${cssString(EXPECT_DATASET)}]`);
      const text = await session.text(row);
      assert.ok(text.includes(EXPECT_DATASET), `dataset row text ${JSON.stringify(text)} lacks ${EXPECT_DATASET}`);
    });
  });

  it('lists the expected run as finished', async () => {
    assert.ok(EXPECT_RUN, 'E2E_EXPECT_RUN must be set');
    await step('run row', async () => {
      const row = await session.find(`tr[data-testid="run-row"][data-name=${cssString(EXPECT_RUN)}]`);
      assert.ok((await session.text(row)).includes(EXPECT_RUN));
      const badge = await session.find('[data-testid="run-status"]', row);
      assert.equal(await session.attribute(badge, 'data-status'), 'finished');
      assert.equal((await session.text(badge)).trim(), EN['status.finished']);
    });
    await step('screenshot en', async () => {
      const file = await session.screenshot(path.join(SCREENSHOT_DIR, 'desktop-overview.png'));
      assert.ok(fs.statSync(file).size > 0);
    });
  });

  it('switches to Simplified Chinese and back', async () => {
    await step('switch to zh-CN', async () => {
      await session.click(await session.find('[data-testid="locale-zh-CN"]'));
      await session.waitForText('[data-testid="page-title"]', ZH['overview.title'], 5_000);
      const refresh = await session.text(await session.find('[data-testid="refresh"]'));
      assert.equal(refresh.trim(), ZH['header.refresh']);
      if (EXPECT_RUN) {
        const row = await session.find(`tr[data-testid="run-row"][data-name=${cssString(EXPECT_RUN)}]`);
        const badge = await session.find('[data-testid="run-status"]', row);
        assert.equal((await session.text(badge)).trim(), ZH['status.finished']);
      }
    });
    await step('screenshot zh', async () => {
      const file = await session.screenshot(path.join(SCREENSHOT_DIR, 'desktop-overview-zh.png'));
      assert.ok(fs.statSync(file).size > 0);
    });
    await step('switch back to en', async () => {
      await session.click(await session.find('[data-testid="locale-en"]'));
      await session.waitForText('[data-testid="page-title"]', EN['overview.title'], 5_000);
    });
  });
});
