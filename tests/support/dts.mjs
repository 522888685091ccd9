// The package's generated TypeScript declarations as a contract for what the SDK hands a
// page at run time: the fields an interface (or an event map's entry) declares, and a
// check that a real object has exactly those (every required one, nothing undeclared).
// Read from the `.d.ts` the package ships, so a payload built in Rust and its hand-written
// TypeScript type cannot drift apart unseen.
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';

const stripComments = (text) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');

/** The body of the `{ ... }` starting at `open` (an index of `{`). */
function braced(text, open) {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(open + 1, i);
  }
  throw new Error('unbalanced braces');
}

/** Top-level `name: type` members of an object type's body: `{ name → { optional, type } }`. */
function members(body) {
  const out = new Map();
  let depth = 0, start = 0;
  const parts = [];
  for (let i = 0; i <= body.length; i++) {
    const c = body[i];
    if (c === '{' || c === '(' || c === '[' || c === '<') depth++;
    else if (c === '}' || c === ')' || c === ']' || c === '>') depth--;
    else if ((c === ';' || c === '\n' || c === undefined) && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  for (const part of parts) {
    const m = part.match(/^\s*(?:readonly\s+)?([A-Za-z_$][\w$]*)(\?)?\s*:\s*([\s\S]*)$/);
    if (m) out.set(m[1], { optional: Boolean(m[2]), type: m[3].trim() });
  }
  return out;
}

/** Reads the declarations of `path` (a `.d.ts` file). */
export function declarations(path) {
  const text = stripComments(readFileSync(path, 'utf8'));
  const fields = (name) => {
    const m = new RegExp(`export interface ${name}\\b([^{]*)\\{`).exec(text);
    if (!m) throw new Error(`no interface ${name} in ${path}`);
    const own = members(braced(text, m.index + m[0].length - 1));
    const base = m[1].match(/extends\s+([\w$]+)/);
    return base ? new Map([...fields(base[1]), ...own]) : own;
  };
  return {
    /** The members of interface `name` (its base's included). */
    fields,
    /** The members of event `event`'s detail in event map `map` (an inline type or a named one). */
    eventFields(map, event) {
      const entry = fields(map).get(event);
      if (!entry) throw new Error(`${map} has no event ${event}`);
      if (entry.type.startsWith('{')) return members(braced(entry.type, 0));
      return fields(entry.type);
    },
  };
}

/** Asserts `value` has every required member of `shape` and no member `shape` lacks. */
export function assertShape(value, shape, label) {
  const keys = Object.keys(value);
  const undeclared = keys.filter((k) => !shape.has(k));
  const missing = [...shape].filter(([k, m]) => !m.optional && !(k in value)).map(([k]) => k);
  assert.deepEqual({ undeclared, missing }, { undeclared: [], missing: [] }, `${label}: ${JSON.stringify(value).slice(0, 300)}`);
}
