// The SvelteKit app the adapter suite runs against: built with `vite build` and served by `vite preview`
// (no adapter needed). The tests build it into a directory of their own (KAVACH_APP_BUILD).
export default { kit: { outDir: process.env.KAVACH_APP_BUILD ?? ".svelte-kit" } };
