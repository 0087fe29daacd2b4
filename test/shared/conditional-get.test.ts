import t from 'tap';
import { isNotModified } from '../../src/shared/conditional-get.js';

const validators = { etag: '"feed-v42"', lastModified: new Date('2026-03-07T12:00:00.750Z') };

t.test('If-None-Match: a matching tag, weak or strong, in a list or as *, means the copy is current', async (t) => {
  t.equal(isNotModified({ 'if-none-match': '"feed-v42"' }, validators), true);
  t.equal(isNotModified({ 'if-none-match': 'W/"feed-v42"' }, validators), true, 'weak comparison');
  t.equal(isNotModified({ 'if-none-match': '"feed-v41", "feed-v42"' }, validators), true, 'any tag of a list');
  t.equal(isNotModified({ 'if-none-match': ' * ' }, validators), true);
  t.equal(isNotModified({ 'if-none-match': '"feed-v41"' }, validators), false);
  t.equal(isNotModified({ 'if-none-match': 'feed-v42' }, validators), false, 'the quotes are part of the tag');
  t.equal(isNotModified({ 'if-none-match': '' }, validators), false);
});

t.test('If-None-Match wins over If-Modified-Since', async (t) => {
  const later = 'Sat, 07 Mar 2026 13:00:00 GMT';
  t.equal(isNotModified({ 'if-none-match': '"feed-v41"', 'if-modified-since': later }, validators), false);
});

t.test('If-Modified-Since: current when the feed changed at or before that second', async (t) => {
  t.equal(isNotModified({ 'if-modified-since': 'Sat, 07 Mar 2026 12:00:00 GMT' }, validators), true, 'milliseconds the HTTP date cannot carry are ignored');
  t.equal(isNotModified({ 'if-modified-since': 'Sat, 07 Mar 2026 12:00:01 GMT' }, validators), true);
  t.equal(isNotModified({ 'if-modified-since': 'Sat, 07 Mar 2026 11:59:59 GMT' }, validators), false);
  t.equal(isNotModified({ 'if-modified-since': 'not a date' }, validators), false);
});

t.test('no conditional header: never current', async (t) => {
  t.equal(isNotModified({}, validators), false);
});
