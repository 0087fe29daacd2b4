import { MAX_PAGE_OFFSET } from './page-depth.js';

/**
 * The most rows a list total counts when no kept counter gives it exactly: as deep as a page
 * may start (page-depth.ts), so 10,000 means "10,000 or more". Counting a million matching
 * rows to say "a million" would hold the shared event loop as long as reading them.
 */
export const COUNT_CAP = MAX_PAGE_OFFSET;
