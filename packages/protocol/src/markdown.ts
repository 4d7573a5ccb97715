/**
 * A small, safe Markdown dialect for chat messages, shared by the server, the SDK and the UI.
 * Messages store the source text; clients render it with `renderMarkdown` (an HTML string) or walk
 * `parseMarkdown`'s token tree (React and other non-HTML renderers).
 *
 * Safety contract (pinned by an XSS corpus and a property test):
 * - Nothing in the source becomes markup by itself: raw HTML is text, every text and attribute
 *   value is escaped (`& < > " '`), and only the tags in MARKDOWN_TAGS are ever emitted.
 * - Links keep only http:, https: and mailto: URLs (checked after parsing with the URL parser,
 *   control characters and whitespace refused); anything else stays plain text. Links carry
 *   `rel="noopener nofollow"`.
 * - Input size and nesting are bounded (MARKDOWN_MAX_DEPTH), so hostile nesting cannot blow the stack.
 *
 * Supported: **bold** / __bold__, *italic* / _italic_, ~~strike~~, `code`, fenced code blocks
 * with a language, [text](url) links and bare http(s) URLs, - / * / + and 1. lists, > quotes,
 * @user mentions (→ mention elements), and line breaks.
 */

export type MarkdownInline =
  | { type: 'text'; text: string }
  | { type: 'strong' | 'em' | 'strike'; children: MarkdownInline[] }
  | { type: 'code'; text: string }
  | { type: 'link'; href: string; children: MarkdownInline[] }
  | { type: 'mention'; user_id: string }
  | { type: 'br' };

export type MarkdownBlock =
  | { type: 'paragraph'; children: MarkdownInline[] }
  | { type: 'code_block'; lang: string | null; text: string }
  | { type: 'blockquote'; children: MarkdownBlock[] }
  | { type: 'list'; ordered: boolean; start: number; items: MarkdownInline[][] };

/** Every tag renderMarkdown may emit. */
export const MARKDOWN_TAGS = [
  'p',
  'strong',
  'em',
  'del',
  'code',
  'pre',
  'a',
  'ul',
  'ol',
  'li',
  'blockquote',
  'br',
  'span',
] as const;

/** Deepest nesting of quotes and of inline emphasis; deeper markup is kept as text. */
export const MARKDOWN_MAX_DEPTH = 8;

const ALLOWED_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
/** Escapes text for HTML content and (double-quoted) attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/**
 * The URL a link may point at, or null: an absolute http(s) or mailto URL with no whitespace or
 * control characters anywhere (so `java\tscript:`, `&#106;avascript:`, `data:` and `vbscript:`
 * are all refused), normalised by the URL parser.
 */
export function safeUrl(raw: string): string | null {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (raw.length === 0 || raw.length > 2048 || /[\u0000-\u0020\u007f-\u009f\s<>"'`\\]/u.test(raw))
    return null;
  if (!/^(?:https?:\/\/|mailto:)/i.test(raw)) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (!ALLOWED_PROTOCOLS.has(url.protocol)) return null;
  if (url.protocol !== 'mailto:' && !url.hostname) return null;
  return url.href;
}

// ---------- blocks ----------

const FENCE = /^ {0,3}```([A-Za-z0-9_+#.-]{0,32})\s*$/;
const FENCE_END = /^ {0,3}```\s*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const BULLET = /^ {0,3}[-*+][ \t]+(.*)$/;
const ORDERED = /^ {0,3}(\d{1,9})[.)][ \t]+(.*)$/;

/** Parses Markdown source into a token tree of blocks (see the module comment). */
export function parseMarkdown(source: string): MarkdownBlock[] {
  return parseBlocks(source.replace(/\r\n?/g, '\n').split('\n'), 0);
}

function parseBlocks(lines: string[], depth: number): MarkdownBlock[] {
  const blocks: MarkdownBlock[] = [];
  let i = 0;
  let paragraph: string[] = [];
  const flush = () => {
    if (paragraph.length > 0) blocks.push({ type: 'paragraph', children: parseLines(paragraph, 0) });
    paragraph = [];
  };
  while (i < lines.length) {
    const line = lines[i]!;
    const fence = FENCE.exec(line);
    if (fence) {
      flush();
      const body: string[] = [];
      i++;
      while (i < lines.length && !FENCE_END.test(lines[i]!)) body.push(lines[i++]!);
      i++; // the closing fence (or the end)
      blocks.push({ type: 'code_block', lang: fence[1] || null, text: body.join('\n') });
      continue;
    }
    if (QUOTE.test(line) && depth < MARKDOWN_MAX_DEPTH) {
      flush();
      const inner: string[] = [];
      while (i < lines.length && QUOTE.test(lines[i]!)) inner.push(QUOTE.exec(lines[i++]!)![1]!);
      blocks.push({ type: 'blockquote', children: parseBlocks(inner, depth + 1) });
      continue;
    }
    const bullet = BULLET.exec(line);
    const ordered = ORDERED.exec(line);
    if (bullet || ordered) {
      flush();
      const isOrdered = !bullet;
      const pattern = isOrdered ? ORDERED : BULLET;
      const items: MarkdownInline[][] = [];
      while (i < lines.length) {
        const m = pattern.exec(lines[i]!);
        if (!m) break;
        items.push(parseInline(isOrdered ? m[2]! : m[1]!, 0));
        i++;
      }
      blocks.push({
        type: 'list',
        ordered: isOrdered,
        start: isOrdered ? Number(ordered![1]) : 1,
        items,
      });
      continue;
    }
    if (line.trim() === '') {
      flush();
      i++;
      continue;
    }
    paragraph.push(line);
    i++;
  }
  flush();
  return blocks;
}

/** The lines of a paragraph, joined by line breaks. */
function parseLines(lines: string[], depth: number): MarkdownInline[] {
  const out: MarkdownInline[] = [];
  lines.forEach((line, index) => {
    if (index > 0) out.push({ type: 'br' });
    out.push(...parseInline(line, depth));
  });
  return out;
}

// ---------- inlines ----------

const PUNCTUATION = /[!-/:-@[-`{-~]/;
// `@` starts a word, then a user id (as the server's mention parser reads it); trailing
// sentence punctuation is not part of the id.
const MENTION = /^@([A-Za-z0-9@_.=-]*[A-Za-z0-9])/;
const BARE_URL = /^https?:\/\/[^\s<>"'`]+/i;

/** Parses one line of inline markup. */
export function parseInline(text: string, depth = 0): MarkdownInline[] {
  const out: MarkdownInline[] = [];
  let buffer = '';
  const pushText = (t: string) => {
    buffer += t;
  };
  const flush = () => {
    if (buffer) out.push({ type: 'text', text: buffer });
    buffer = '';
  };
  const emit = (node: MarkdownInline) => {
    flush();
    out.push(node);
  };
  // Searches that found no closing delimiter from some index find none from later ones either:
  // remembered, so hostile input (thousands of unmatched `*` or backticks) stays linear-ish.
  const noClose = new Map<string, number>();
  const close = (from: number, delim: string) => {
    if (from >= (noClose.get(delim) ?? Number.POSITIVE_INFINITY)) return -1;
    const end = delim[0] === '`' ? text.indexOf(delim, from) : findClose(text, from, delim);
    if (end < 0) noClose.set(delim, Math.min(from, noClose.get(delim) ?? from));
    return end;
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const rest = text.slice(i, i + 4096);
    // backslash escapes
    if (c === '\\' && i + 1 < text.length && PUNCTUATION.test(text[i + 1]!)) {
      pushText(text[i + 1]!);
      i += 2;
      continue;
    }
    // inline code: a run of backticks up to the same run
    if (c === '`') {
      const run = /^`+/.exec(rest)![0];
      const end = close(i + run.length, run);
      if (end > i) {
        let code = text.slice(i + run.length, end);
        if (code.length > 1 && code.startsWith(' ') && code.endsWith(' ')) code = code.slice(1, -1);
        emit({ type: 'code', text: code });
        i = end + run.length;
        continue;
      }
      pushText(run);
      i += run.length;
      continue;
    }
    // emphasis, strong, strike
    if (depth < MARKDOWN_MAX_DEPTH) {
      const delim = rest.startsWith('**')
        ? '**'
        : rest.startsWith('__')
          ? '__'
          : rest.startsWith('~~')
            ? '~~'
            : c === '*' || c === '_'
              ? c
              : undefined;
      if (delim && canOpen(text, i, delim)) {
        const end = close(i + delim.length, delim);
        if (end > i + delim.length) {
          const inner = parseInline(text.slice(i + delim.length, end), depth + 1);
          const type = delim === '~~' ? 'strike' : delim.length === 2 ? 'strong' : 'em';
          emit({ type, children: inner });
          i = end + delim.length;
          continue;
        }
      }
    }
    // [text](url)
    if (c === '[' && depth < MARKDOWN_MAX_DEPTH) {
      const link = matchLink(text, i);
      if (link) {
        const href = safeUrl(link.url);
        if (href) {
          emit({ type: 'link', href, children: parseInline(link.label, depth + 1) });
        } else {
          // Not a safe link: keep the label as text, drop the URL.
          flush();
          out.push(...parseInline(link.label, depth + 1));
        }
        i = link.end;
        continue;
      }
    }
    // bare http(s) URLs, at the start of a word
    if ((c === 'h' || c === 'H') && (i === 0 || !/[A-Za-z0-9]/.test(text[i - 1]!))) {
      const m = BARE_URL.exec(rest);
      if (m) {
        const raw = m[0].replace(/[.,;:!?)\]]+$/, '');
        const href = safeUrl(raw);
        if (href) {
          emit({ type: 'link', href, children: [{ type: 'text', text: raw }] });
          i += raw.length;
          continue;
        }
      }
    }
    // @mentions
    if (c === '@' && (i === 0 || !/[A-Za-z0-9_.@=-]/.test(text[i - 1]!))) {
      const m = MENTION.exec(rest);
      if (m && m[1]!.length <= 128) {
        emit({ type: 'mention', user_id: m[1]! });
        i += m[0].length;
        continue;
      }
    }
    pushText(c);
    i++;
  }
  flush();
  return out;
}

const isSpace = (ch: string | undefined) => ch === undefined || /\s/.test(ch);

/** An opening delimiter is followed by a non-space; `_` must not sit inside a word (snake_case). */
function canOpen(text: string, at: number, delim: string): boolean {
  if (isSpace(text[at + delim.length])) return false;
  if (delim[0] === '_' && at > 0 && /[A-Za-z0-9]/.test(text[at - 1]!)) return false;
  return true;
}

/** The index of the closing delimiter (preceded by a non-space), or -1. */
function findClose(text: string, from: number, delim: string): number {
  let i = from;
  while (i < text.length) {
    if (text[i] === '\\') {
      i += 2;
      continue;
    }
    if (text[i] === '`') {
      // skip code spans: delimiters inside them do not count
      const run = /^`+/.exec(text.slice(i))![0];
      const end = text.indexOf(run, i + run.length);
      i = end > 0 ? end + run.length : i + run.length;
      continue;
    }
    if (text.startsWith(delim, i) && !isSpace(text[i - 1])) {
      const after = text[i + delim.length];
      // a single * or _ must not be the start of a double one
      if (delim.length === 1 && after === delim) {
        i += 2;
        continue;
      }
      if (delim[0] === '_' && after !== undefined && /[A-Za-z0-9]/.test(after)) {
        i++;
        continue;
      }
      return i;
    }
    i++;
  }
  return -1;
}

/** `[label](url)` starting at `at`: brackets balanced, the url without spaces. */
function matchLink(text: string, at: number): { label: string; url: string; end: number } | undefined {
  let depth = 0;
  let i = at;
  const limit = Math.min(text.length, at + 2048);
  for (; i < limit; i++) {
    const ch = text[i];
    if (ch === '\\') {
      i++;
      continue;
    }
    if (ch === '[') depth++;
    else if (ch === ']') {
      depth--;
      if (depth === 0) break;
    }
  }
  if (depth !== 0 || text[i + 1] !== '(') return undefined;
  // The url ends at the `)` that balances the `(` (urls may hold parentheses: wiki links).
  let close = -1;
  let parens = 0;
  for (let j = i + 2; j < Math.min(text.length, i + 2100); j++) {
    if (text[j] === '(') parens++;
    else if (text[j] === ')') {
      if (parens === 0) {
        close = j;
        break;
      }
      parens--;
    }
  }
  if (close < 0) return undefined;
  const url = text.slice(i + 2, close).trim();
  return { label: text.slice(at + 1, i), url, end: close + 1 };
}

// ---------- HTML ----------

/** Renders Markdown source to an HTML string that is safe to insert as innerHTML. */
export function renderMarkdown(source: string): string {
  return renderBlocks(parseMarkdown(source));
}

export function renderBlocks(blocks: MarkdownBlock[]): string {
  return blocks.map(renderBlock).join('');
}

function renderBlock(block: MarkdownBlock): string {
  switch (block.type) {
    case 'paragraph':
      return `<p>${renderInlines(block.children)}</p>`;
    case 'code_block': {
      const lang = block.lang && /^[A-Za-z0-9_+#.-]+$/.test(block.lang) ? block.lang : null;
      const attr = lang ? ` class="language-${escapeHtml(lang)}"` : '';
      return `<pre><code${attr}>${escapeHtml(block.text)}</code></pre>`;
    }
    case 'blockquote':
      return `<blockquote>${renderBlocks(block.children)}</blockquote>`;
    case 'list': {
      const items = block.items.map((item) => `<li>${renderInlines(item)}</li>`).join('');
      if (!block.ordered) return `<ul>${items}</ul>`;
      const start = block.start !== 1 ? ` start="${Math.trunc(block.start)}"` : '';
      return `<ol${start}>${items}</ol>`;
    }
  }
}

export function renderInlines(nodes: MarkdownInline[]): string {
  return nodes.map(renderInline).join('');
}

function renderInline(node: MarkdownInline): string {
  switch (node.type) {
    case 'text':
      return escapeHtml(node.text);
    case 'strong':
      return `<strong>${renderInlines(node.children)}</strong>`;
    case 'em':
      return `<em>${renderInlines(node.children)}</em>`;
    case 'strike':
      return `<del>${renderInlines(node.children)}</del>`;
    case 'code':
      return `<code>${escapeHtml(node.text)}</code>`;
    case 'link': {
      const href = safeUrl(node.href);
      if (!href) return renderInlines(node.children);
      return `<a href="${escapeHtml(href)}" rel="noopener nofollow">${renderInlines(node.children)}</a>`;
    }
    case 'mention':
      return `<span class="mention" data-user-id="${escapeHtml(node.user_id)}">@${escapeHtml(node.user_id)}</span>`;
    case 'br':
      return '<br>';
  }
}
