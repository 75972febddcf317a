// Reactive holder for the active locale. Lives in a `.svelte.ts` module so it can use
// runes; `t()` in ./i18n.ts reads it, which makes every template that calls `t()`
// re-render when the locale changes.
export const localeState = $state<{ current: string }>({ current: 'en' });
