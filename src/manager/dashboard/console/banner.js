// The error banner: every failed request shows here with what to do about it, and stays
// until a later request succeeds. Rate limits count down their Retry-After and retry.
import { $ } from './dom.js';

const ADVICE = {
  unauthorized: {
    title: 'Token refused (401).',
    advice: 'The token is wrong or has been replaced (MANAGER_AUTH_TOKEN changed). Sign out and sign in with the current operator token.',
  },
  forbidden: {
    title: 'Not allowed (403).',
    advice: 'This token may not read the fleet: agent and enrollment tokens only register and report. Sign out and use the operator token.',
  },
  rate_limited: { title: 'Rate limited (429).', advice: '' },
  server: {
    title: 'The Manager failed.',
    advice: 'Retry; if it keeps failing, look in the Manager log for the request id shown.',
  },
  network: {
    title: 'Manager unreachable.',
    advice: 'Check that the Manager is running and reachable from here; the console keeps retrying.',
  },
  client: { title: 'Request refused.', advice: 'Check the filters and try again.' },
};

export function createBanner({ onRetry }) {
  let countdown = null;
  let current = null;

  const stopCountdown = () => {
    clearInterval(countdown);
    countdown = null;
  };

  $('banner-retry').addEventListener('click', () => {
    stopCountdown();
    onRetry();
  });

  function show(error) {
    // A 401 outranks anything else until the operator acts on it.
    if (current && current.kind === 'unauthorized' && error.kind !== 'unauthorized') return;
    current = error;
    const text = ADVICE[error.kind] || ADVICE.client;
    const banner = $('banner');
    banner.dataset.kind = error.kind;
    banner.hidden = false;
    $('banner-title').textContent = error.kind === 'server' ? `The Manager failed (HTTP ${error.status}).` : text.title;
    const detail = error.requestId && error.kind === 'server' ? `${error.message} (request id ${error.requestId}).` : `${error.message}`;
    $('banner-message').textContent = detail;
    $('banner-signout').hidden = !(error.kind === 'unauthorized' || error.kind === 'forbidden');
    $('banner-retry').hidden = error.kind === 'unauthorized' || error.kind === 'forbidden';
    stopCountdown();
    if (error.kind === 'rate_limited') {
      let left = error.retryAfter ?? 60;
      const tick = () => {
        $('banner-advice').textContent = `Retry-After: ${left} s. The Manager allows MANAGER_RATE_LIMIT requests per minute per address; the console retries by itself when the wait is over.`;
      };
      tick();
      countdown = setInterval(() => {
        left -= 1;
        if (left > 0) return tick();
        stopCountdown();
        onRetry();
      }, 1000);
    } else {
      $('banner-advice').textContent = text.advice;
    }
  }

  function clear() {
    if (!current || current.kind === 'unauthorized' || current.kind === 'forbidden' || countdown) return;
    current = null;
    $('banner').hidden = true;
  }

  function reset() {
    stopCountdown();
    current = null;
    $('banner').hidden = true;
  }

  return { show, clear, reset, get current() { return current; } };
}
