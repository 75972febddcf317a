// Guards the i18n rule: user-visible text in .svelte files must come from t(), never
// from literal text nodes or literal user-facing attributes.
import { describe, expect, it } from 'vitest';
import { parse } from 'svelte/compiler';

const sources = import.meta.glob('../**/*.svelte', { query: '?raw', import: 'default', eager: true }) as Record<
  string,
  string
>;

/** Attributes whose values are shown to (or read out for) the user. */
const VISIBLE_ATTRIBUTES = new Set(['title', 'alt', 'placeholder', 'aria-label', 'aria-description', 'label']);
/** Text made only of whitespace, punctuation and symbols (e.g. "·", "—", "/") is allowed. */
const ALLOWED = /^[\s\p{P}\p{S}]*$/u;

type Node = { type?: string; [key: string]: unknown };

function findLiterals(root: unknown): string[] {
  const found: string[] = [];
  const seen = new Set<unknown>();
  const visit = (value: unknown): void => {
    if (value === null || typeof value !== 'object' || seen.has(value)) return;
    seen.add(value);
    if (Array.isArray(value)) {
      value.forEach(visit);
      return;
    }
    const node = value as Node;
    switch (node.type) {
      case 'Text':
        if (!ALLOWED.test(String(node.data))) found.push(String(node.data).trim());
        return;
      case 'Comment':
      case 'ExpressionTag':
        return;
      case 'Attribute': {
        const name = String(node.name);
        if (VISIBLE_ATTRIBUTES.has(name) && Array.isArray(node.value)) {
          for (const part of node.value as Node[]) {
            if (part.type === 'Text' && !ALLOWED.test(String(part.data))) found.push(`${name}="${part.data}"`);
          }
        }
        return;
      }
    }
    for (const [key, child] of Object.entries(node)) {
      if (key === 'expression' || key === 'metadata') continue;
      visit(child);
    }
  };
  visit(root);
  return found;
}

describe('svelte templates', () => {
  it('finds the component files', () => {
    expect(Object.keys(sources).length).toBeGreaterThan(3);
  });

  it('the checker detects literal text', () => {
    const ast = parse('<p title="Hello">Hi {x}</p><i aria-hidden="true">·</i>', { modern: true });
    expect(findLiterals(ast.fragment)).toEqual(['title="Hello"', 'Hi']);
  });

  for (const [file, source] of Object.entries(sources)) {
    it(`${file} has no user-visible literal text`, () => {
      const ast = parse(source, { modern: true });
      expect(findLiterals(ast.fragment)).toEqual([]);
    });
  }
});
