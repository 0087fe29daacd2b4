// Every error is a visible banner that says what happened and what to do about it.
import { h } from './dom.js';

const region = () => document.getElementById('banners');

/** What to tell the user for an ApiError: a title, what to do, and optional actions. */
export function explain(error) {
  const status = error.status;
  if (status === 0) {
    return {
      kind: 'network',
      title: 'The Threat Cloud cannot be reached.',
      advice: 'The server may be stopped or restarting, or your network is down. Check that it is running, then press Retry.',
      retry: true,
    };
  }
  if (status === 401) {
    return {
      kind: 'auth',
      title: `Your API key was refused (${error.message}).`,
      advice: 'The key may have been revoked or mistyped. Sign in again with a valid key.',
      signIn: true,
    };
  }
  if (status === 403 && /tier/.test(error.message)) {
    return {
      kind: 'tier',
      title: `Not included in your key's tier: “${error.message}”.`,
      advice:
        'Analytics (activity, ATT&CK heatmap, geography, trends) live under /api/query/* and need a key of the solo tier or higher. ' +
        'Community keys can still look up indicators, read statistics and campaigns and download feeds. Ask your operator for a solo or higher key, or upgrade your plan.',
    };
  }
  if (status === 403) {
    return {
      kind: 'forbidden',
      title: `Refused: “${error.message}”.`,
      advice: /quota/i.test(error.message)
        ? "Your account's monthly API call quota is used up; it resets at the start of next month, or upgrade your plan."
        : 'Your key does not allow this. Ask your operator for a key with the needed scope.',
    };
  }
  if (status === 429) {
    const wait = error.retryAfter ? `${error.retryAfter} s` : 'a minute';
    return {
      kind: 'rate',
      title: 'Too many requests: your key reached its per-minute limit.',
      advice: `Wait ${wait} (the server's Retry-After), then press Retry. Higher tiers have higher limits.`,
      retry: true,
      retryAfter: error.retryAfter,
    };
  }
  if (status === 404) {
    return { kind: 'missing', title: `Not found: “${error.message}”.`, advice: 'It may have been merged or removed. Go back to the list and pick another.' };
  }
  if (status >= 500) {
    return {
      kind: 'server',
      title: `The Threat Cloud failed to answer (${status}: ${error.message}).`,
      advice: `Press Retry in a moment; if it keeps failing, the operator can find this request in the server log${error.requestId ? ` by its id ${error.requestId}` : ''}.`,
      retry: true,
    };
  }
  return { kind: 'request', title: `The request was refused (${status}: ${error.message}).`, advice: 'Check the values you entered and try again.' };
}

/**
 * Shows (or refreshes) the banner for an error. One banner per kind: a burst of failing requests
 * says it once. `actions.retry` and `actions.signIn` are what the buttons do.
 */
export function showError(error, actions = {}) {
  const info = explain(error);
  const id = `banner-${info.kind}`;
  document.getElementById(id)?.remove();
  const buttons = [];
  if (info.retry && actions.retry) {
    const retry = h('button', { type: 'button', class: 'secondary' }, 'Retry');
    retry.addEventListener('click', () => {
      dismiss(info.kind);
      actions.retry();
    });
    buttons.push(retry);
  }
  if (info.signIn && actions.signIn) {
    const signIn = h('button', { type: 'button' }, 'Sign in again');
    signIn.addEventListener('click', () => {
      dismiss(info.kind);
      actions.signIn();
    });
    buttons.push(signIn);
  }
  const close = h('button', { type: 'button', class: 'secondary', 'aria-label': 'Dismiss this message' }, 'Dismiss');
  close.addEventListener('click', () => dismiss(info.kind));
  buttons.push(close);
  const banner = h(
    'div',
    { id, class: `banner banner-${info.kind}`, role: 'alert', 'data-kind': info.kind, 'data-status': String(error.status) },
    h('p', { class: 'banner-title' }, info.title),
    h('p', { class: 'banner-advice' }, info.advice),
    h('div', { class: 'banner-actions' }, buttons),
  );
  region().append(banner);
  return info;
}

export function dismiss(kind) {
  document.getElementById(`banner-${kind}`)?.remove();
}

export function clearBanners() {
  region().replaceChildren();
}
