// js-tagger: a Weir plugin in JavaScript, built with componentize-js (see README.md).
// Adds header `lang` (config `lang`, default `javascript`) to every record and drops the
// records whose value is exactly config `drop_value` (default `drop`).
import { log } from 'weir:plugin/host@0.1.0';

const encoder = new TextEncoder();
let settings = null;

function sameBytes(a, b) {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function init(config) {
  const values = Object.fromEntries(config);
  const unknown = Object.keys(values).filter((k) => k !== 'lang' && k !== 'drop_value');
  if (unknown.length > 0) {
    // A thrown value becomes the `error` of init's result.
    throw `unknown config key(s): ${unknown.sort().join(', ')}`;
  }
  settings = {
    lang: encoder.encode(values.lang ?? 'javascript'),
    dropValue: encoder.encode(values.drop_value ?? 'drop'),
  };
  log('info', `js-tagger: lang=${values.lang ?? 'javascript'}`);
}

export function process(records) {
  if (settings === null) throw 'process called before a successful init';
  return records.map((record) => {
    if (sameBytes(record.value, settings.dropValue)) return { tag: 'drop' };
    return {
      tag: 'replace',
      val: {
        key: record.key,
        value: record.value,
        headers: [...record.headers, { key: 'lang', value: settings.lang }],
      },
    };
  });
}
