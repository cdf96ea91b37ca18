/**
 * The environment a systemd unit's `Environment=` lines set, read as systemd reads them
 * (systemd.exec(5)): each line holds assignments separated by spaces, quoted in double or
 * single quotes where a value holds one (`Environment="A=one two" B=3`); a backslash outside
 * single quotes escapes the next character. A later assignment of a name wins.
 */
export function unitEnvironment(unitText: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of unitText.split('\n')) {
    const m = /^\s*Environment=(.*)$/.exec(line);
    if (m === null) continue;
    for (const word of environmentWords(m[1] ?? '')) {
      const eq = word.indexOf('=');
      if (eq <= 0) throw new Error(`Environment= holds ${JSON.stringify(word)}, which is not NAME=value`);
      env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return env;
}

/** The words of one `Environment=` value, quotes removed (a quote may open anywhere in a word). */
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
    } else if (c === '\\' && quote !== "'" && i + 1 < value.length) {
      i++;
      word = (word ?? '') + (value[i] ?? '');
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote !== undefined) throw new Error(`Environment= has an unterminated ${quote} quote: ${value}`);
  if (word !== undefined) words.push(word);
  return words;
}
