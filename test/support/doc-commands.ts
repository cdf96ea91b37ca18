/**
 * The shell commands and repository paths a Markdown document shows, for tests that check the
 * README and the docs against the tree: the commands of its ```sh blocks (continuations joined,
 * comments and a leading `sudo` dropped, `a && b` split), the paths it names in backticks, and
 * the targets of its links.
 */

/** One command as a document shows it. */
export interface DocCommand {
  /** Words of the command, split on blanks (the documents quote nothing that holds a blank). */
  readonly words: readonly string[];
  /** The line as written, for failure messages. */
  readonly text: string;
}

/** The bodies of the fenced code blocks whose info string is `lang`. */
export function codeBlocks(markdown: string, lang: string): string[] {
  const blocks: string[] = [];
  // Outside a block, inside one of another language, or collecting one of `lang`.
  let state: 'out' | 'other' | string[] = 'out';
  for (const line of markdown.split('\n')) {
    const fence = /^```(\S*)/.exec(line);
    if (fence === null) {
      if (Array.isArray(state)) state.push(line);
    } else if (state === 'out') {
      state = fence[1] === lang ? [] : 'other';
    } else {
      if (Array.isArray(state)) blocks.push(state.join('\n'));
      state = 'out';
    }
  }
  return blocks;
}

/** The commands of the ```sh blocks of `markdown`. */
export function shellCommands(markdown: string): DocCommand[] {
  const commands: DocCommand[] = [];
  for (const block of codeBlocks(markdown, 'sh')) {
    const joined = block.replace(/\\\n/g, ' ');
    for (const raw of joined.split('\n')) {
      const line = raw.replace(/(^|\s)#.*$/, '').trim();
      if (line === '') continue;
      for (const part of line.split('&&')) {
        const words = part
          .trim()
          .split(/\s+/)
          .filter((w) => w !== '');
        if (words[0] === 'sudo') words.shift();
        if (words.length > 0) commands.push({ words, text: part.trim() });
      }
    }
  }
  return commands;
}

/** Repository paths named in backticks (`docs/x.md`, `etc/…`, `scripts/…`), outside code blocks. */
export function namedPaths(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '');
  const paths = new Set<string>();
  for (const m of prose.matchAll(/`((?:\.\.\/|\.\/)?(?:docs|etc|systemd|scripts|src|test|bench|packaging)\/[\w./-]*)`/g)) paths.add(m[1] ?? '');
  return [...paths];
}

/** Targets of Markdown links and images, `[text](target)`, without `#anchors`. */
export function linkTargets(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => (m[1] ?? '').split('#')[0] ?? '').filter((t) => t !== '');
}
