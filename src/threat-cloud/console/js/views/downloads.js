// Downloads: the blocklists and the STIX bundle, fetched with the key in the header.
import { download } from '../api.js';
import { num } from '../dom.js';

const $ = (id) => document.getElementById(id);
const STIX_LIMIT = 5000;

const FEEDS = {
  'ip-blocklist': { path: '/api/feeds/ip-blocklist', file: 'ip-blocklist.txt', blocklist: true },
  'domain-blocklist': { path: '/api/feeds/domain-blocklist', file: 'domain-blocklist.txt', blocklist: true },
  stix: { path: '/api/feeds/stix', file: 'panguard-stix.json', blocklist: false },
};

export function init(context) {
  for (const button of document.querySelectorAll('[data-download]')) {
    button.addEventListener('click', async () => {
      const feed = FEEDS[button.dataset.download];
      const params = feed.blocklist
        ? { maxReputation: $('downloads-threshold').value, category: $('downloads-category').value }
        : { limit: STIX_LIMIT };
      const status = $('downloads-status');
      button.disabled = true;
      status.textContent = `Downloading ${feed.file}…`;
      try {
        const bytes = await download(feed.path, params, feed.file);
        status.textContent = `Saved ${feed.file} (${num(bytes)} bytes).`;
      } catch (error) {
        status.textContent = `${feed.file} could not be downloaded.`;
        context.report(error);
      } finally {
        button.disabled = false;
      }
    });
  }
}

export async function show() {
  // Nothing to load: the files are fetched when asked for.
}
