/**
 * The environment a systemd unit's `Environment=` lines set, read as systemd reads them
 * (systemd.exec(5), systemd.syntax(7)): each line holds assignments separated by spaces, quoted
 * in double or single quotes where a value holds one (`Environment="A=one two" B=3`); a
 * backslash starts a C escape (`\n`, `\t`, `\s` for a space, `\\`, `\"`, `\'`, `\xHH`, three
 * octal digits), in quotes or not; a later assignment of a name wins, and an empty
 * `Environment=` forgets every assignment before it. What systemd would refuse or what this
 * does not read (an unknown escape, an unterminated quote, a `%` specifier, a line continued
 * with a backslash) is an error here, not a guess.
 */
export function unitEnvironment(unitText: string): Record<string, string> {
  let env: Record<string, string> = {};
  for (const line of unitText.split('\n')) {
    const m = /^\s*Environment\s*=\s*(.*?)\s*$/.exec(line);
    if (m === null) continue;
    const value = m[1] ?? '';
    if (value === '') {
      env = {};
      continue;
    }
    if (value.endsWith('\\')) throw new Error(`Environment= continues on the next line, which this does not read: ${value}`);
    if (value.includes('%')) throw new Error(`Environment= holds a % specifier, which this does not expand: ${value}`);
    for (const word of environmentWords(value)) {
      const eq = word.indexOf('=');
      if (eq <= 0) throw new Error(`Environment= holds ${JSON.stringify(word)}, which is not NAME=value`);
      env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return env;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  s: ' ',
  '\\': '\\',
  '"': '"',
  "'": "'",
};

/** The words of one `Environment=` value, quotes removed and escapes read (a quote may open anywhere in a word). */
function environmentWords(value: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] ?? '';
    if (quote === undefined && /\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === quote) {
      quote = undefined;
    } else if (quote === undefined && (c === '"' || c === "'")) {
      quote = c;
      word ??= '';
    } else if (c === '\\') {
      const { text, length } = escapeAt(value, i + 1);
      word = (word ?? '') + text;
      i += length;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote !== undefined) throw new Error(`Environment= has an unterminated ${quote} quote: ${value}`);
  if (word !== undefined) words.push(word);
  return words;
}

/** The C escape whose letter is at `at` (after its backslash): what it stands for and how many characters it takes. */
function escapeAt(value: string, at: number): { text: string; length: number } {
  const c = value[at] ?? '';
  const simple = SIMPLE_ESCAPES[c];
  if (simple !== undefined) return { text: simple, length: 1 };
  const hex = /^x([0-9a-fA-F]{2})/.exec(value.slice(at));
  if (hex !== null) return { text: String.fromCharCode(Number.parseInt(hex[1] ?? '', 16)), length: 3 };
  const octal = /^[0-7]{3}/.exec(value.slice(at));
  if (octal !== null) return { text: String.fromCharCode(Number.parseInt(octal[0], 8)), length: 3 };
  throw new Error(`Environment= has an escape systemd does not take (\\${c}): ${value}`);
}
