// Panguard Manager console: entry point. No framework, no CDN: served by the Manager under
// Content-Security-Policy default-src 'self'. The token lives in sessionStorage only (gone
// with the tab) and travels in the Authorization header, also for the event stream, which
// the console reads with fetch because EventSource cannot send headers.
'use strict';

const TOKEN_KEY = 'panguard.managerToken';
const $ = (id) => document.getElementById(id);
let consoleModule = null;

function showLogin(message) {
  $('dashboard').hidden = true;
  $('session').hidden = true;
  $('nav').hidden = true;
  $('banner').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (consoleModule) consoleModule.stop();
  showLogin(message);
  $('token').focus();
}

async function start(token) {
  $('login').hidden = true;
  $('dashboard').hidden = false;
  $('session').hidden = false;
  $('nav').hidden = false;
  consoleModule = await import('/console/main.js');
  consoleModule.start({ token, signOut });
}

/** Checks the token with one cheap read before keeping it, so a typo is not stored. */
async function connect(event) {
  event.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  let res;
  try {
    res = await fetch('/api/overview', { headers: { Authorization: `Bearer ${token}` } });
  } catch {
    $('login-error').textContent = 'Could not reach the Manager: check that it is running and this address is right.';
    return;
  }
  if (!res.ok) {
    const reasons = {
      401: 'That token was refused: use the MANAGER_AUTH_TOKEN printed at first start (kept in DATA_DIR).',
      403: 'That token may not read the fleet (agent and enrollment tokens cannot): use the operator token.',
      429: `Too many requests: try again in ${res.headers.get('retry-after') || 'a few'} s.`,
    };
    $('login-error').textContent = reasons[res.status] || `The Manager answered HTTP ${res.status}: try again, or check its log.`;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  $('login-error').textContent = '';
  if (!location.hash) location.hash = '#/fleet';
  start(token);
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', connect);
  $('logout').addEventListener('click', () => signOut());
  $('banner-signout').addEventListener('click', () => signOut());
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) start(saved);
  else showLogin();
});
