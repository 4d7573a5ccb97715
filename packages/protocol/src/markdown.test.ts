import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MARKDOWN_TAGS, parseMarkdown, renderMarkdown, safeUrl } from './markdown.js';

/** The attributes each emitted tag may carry. */
const ALLOWED_ATTRIBUTES: Record<string, string[]> = {
  a: ['href', 'rel'],
  code: ['class'],
  span: ['class', 'data-user-id'],
  ol: ['start'],
};

const unescapeHtml = (v: string) =>
  v
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/**
 * Checks rendered HTML the way a browser would see it: every tag is allowlisted with only its
 * allowlisted, double-quoted attributes; no text outside tags holds `<` or `>`; every link goes
 * to http(s) or mailto and carries rel="noopener nofollow". Answers the problems found.
 */
function problemsOf(html: string): string[] {
  const problems: string[] = [];
  if (/<script/i.test(html)) problems.push('<script');
  const outside = html.replace(
    /<\/?([a-z]+)((?:\s+[a-z-]+="[^"]*")*)\s*>/g,
    (whole, tag: string, attrs: string) => {
      if (!(MARKDOWN_TAGS as readonly string[]).includes(tag)) problems.push(`tag ${tag}`);
      for (const [, name, value] of attrs.matchAll(/\s+([a-z-]+)="([^"]*)"/g)) {
        if (!(ALLOWED_ATTRIBUTES[tag] ?? []).includes(name!)) problems.push(`attribute ${name} on ${tag}`);
        if (/^on/i.test(name!)) problems.push(`event handler ${name}`);
        if (name === 'href') {
          const href = unescapeHtml(value!);
          const protocol = new URL(href).protocol;
          if (!['http:', 'https:', 'mailto:'].includes(protocol)) problems.push(`href ${href}`);
          if (!whole.includes('rel="noopener nofollow"')) problems.push('link without rel');
        }
      }
      return '';
    },
  );
  if (/[<>]/.test(outside)) problems.push(`unescaped markup in ${JSON.stringify(outside.slice(0, 200))}`);
  if (/<[a-z]+[^>]*\son[a-z]+\s*=/i.test(html)) problems.push('on*= inside a tag');
  return problems;
}

const expectSafe = (source: string) => {
  const html = renderMarkdown(source);
  expect(problemsOf(html), `${JSON.stringify(source)} → ${html}`).toEqual([]);
  return html;
};

describe('markdown rendering', () => {
  it('renders the chat dialect', () => {
    expect(renderMarkdown('**bold** and __bold__, *it* and _it_, ~~gone~~, `x < y`')).toBe(
      '<p><strong>bold</strong> and <strong>bold</strong>, <em>it</em> and <em>it</em>, <del>gone</del>, <code>x &lt; y</code></p>',
    );
    expect(renderMarkdown('```ts\nconst a = "<b>";\n```')).toBe(
      '<pre><code class="language-ts">const a = &quot;&lt;b&gt;&quot;;</code></pre>',
    );
    expect(renderMarkdown('```\nplain\n```')).toBe('<pre><code>plain</code></pre>');
    expect(renderMarkdown('see [docs](https://example.com/a?b=1&c=2) or https://parley.dev.')).toBe(
      '<p>see <a href="https://example.com/a?b=1&amp;c=2" rel="noopener nofollow">docs</a> or <a href="https://parley.dev/" rel="noopener nofollow">https://parley.dev</a>.</p>',
    );
    expect(renderMarkdown('[mail me](mailto:a@example.com)')).toBe(
      '<p><a href="mailto:a@example.com" rel="noopener nofollow">mail me</a></p>',
    );
    expect(renderMarkdown('- one\n- **two**\n\n3. three\n4. four')).toBe(
      '<ul><li>one</li><li><strong>two</strong></li></ul><ol start="3"><li>three</li><li>four</li></ol>',
    );
    expect(renderMarkdown('> quoted\n> > nested\n\nafter')).toBe(
      '<blockquote><p>quoted</p><blockquote><p>nested</p></blockquote></blockquote><p>after</p>',
    );
    expect(renderMarkdown('hi @bob.smith, and a@b.c stays text')).toBe(
      '<p>hi <span class="mention" data-user-id="bob.smith">@bob.smith</span>, and a@b.c stays text</p>',
    );
    expect(renderMarkdown('line one\nline two\n\nnew paragraph')).toBe(
      '<p>line one<br>line two</p><p>new paragraph</p>',
    );
    expect(renderMarkdown('snake_case_name and 2*3*4')).toBe('<p>snake_case_name and 2<em>3</em>4</p>');
    expect(renderMarkdown('\\*not italic\\* and **nested *em* inside**')).toBe(
      '<p>*not italic* and <strong>nested <em>em</em> inside</strong></p>',
    );
    expect(renderMarkdown('')).toBe('');
  });

  it('exposes the token tree for non-HTML renderers', () => {
    expect(parseMarkdown('Hi **@ann**, see [x](https://x.io)\n- a')).toEqual([
      {
        type: 'paragraph',
        children: [
          { type: 'text', text: 'Hi ' },
          { type: 'strong', children: [{ type: 'mention', user_id: 'ann' }] },
          { type: 'text', text: ', see ' },
          { type: 'link', href: 'https://x.io/', children: [{ type: 'text', text: 'x' }] },
        ],
      },
      { type: 'list', ordered: false, start: 1, items: [[{ type: 'text', text: 'a' }]] },
    ]);
  });

  it('keeps only http, https and mailto URLs', () => {
    expect(safeUrl('https://example.com')).toBe('https://example.com/');
    expect(safeUrl('HTTP://EXAMPLE.com/x')).toBe('http://example.com/x');
    for (const bad of [
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      ' javascript:alert(1)',
      'java\tscript:alert(1)',
      'java\nscript:alert(1)',
      '&#106;avascript:alert(1)',
      'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
      'vbscript:msgbox(1)',
      'file:///etc/passwd',
      '//evil.example',
      '/relative',
      'https://',
      'https://a.b/"onmouseover="x',
      'http://a.b/\u0000x',
      'https://a.b/<script>',
    ]) {
      expect(safeUrl(bad), bad).toBeNull();
    }
  });
});

/** Filter-evasion inputs in the style of the OWASP XSS cheat sheet, plus markdown-specific tricks. */
const XSS_CORPUS = [
  '<script>alert(1)</script>',
  '<SCRIPT SRC=http://xss.rocks/xss.js></SCRIPT>',
  '<scr<script>ipt>alert(1)</scr</script>ipt>',
  '<IMG SRC="javascript:alert(\'XSS\');">',
  '<IMG SRC=javascript:alert(&quot;XSS&quot;)>',
  '<IMG SRC=`javascript:alert("RSnake says, \'XSS\'")`>',
  '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>',
  '<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>',
  '<IMG SRC="jav&#x09;ascript:alert(\'XSS\');">',
  '<IMG SRC=" &#14;  javascript:alert(\'XSS\');">',
  '<img src=x onerror=alert(1)//',
  '<svg/onload=alert(1)>',
  "<BODY ONLOAD=alert('XSS')>",
  '<iframe src="javascript:alert(1)"></iframe>',
  '<a href="javascript:alert(1)">click</a>',
  '<div style="background-image: url(javascript:alert(\'XSS\'))">',
  '<<SCRIPT>alert("XSS");//\\<</SCRIPT>',
  '<IMG SRC="javascript:alert(\'XSS\')"',
  '</TITLE><SCRIPT>alert("XSS");</SCRIPT>',
  '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'XSS\');">',
  '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
  '"><script>alert(1)</script>',
  "'><img src=x onerror=alert(1)>",
  '[click](javascript:alert(1))',
  '[click](JAVASCRIPT:alert(1))',
  '[click]( javascript:alert(1))',
  '[click](java\tscript:alert(1))',
  '[click](&#106;avascript:alert(1))',
  '[click](javascript&colon;alert(1))',
  '[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
  '[click](vbscript:msgbox(1))',
  '[click](https://ok.example" onmouseover="alert(1))',
  '[click](https://ok.example"onmouseover="alert(1))',
  "[click](https://ok.example'onmouseover='alert(1))",
  '[<img src=x onerror=alert(1)>](https://ok.example)',
  '[**<script>**](https://ok.example)',
  '[x](https://ok.example/<script>alert(1)</script>)',
  '![img](javascript:alert(1))',
  '`<script>alert(1)</script>`',
  '```html\n<script>alert(1)</script>\n```',
  '```"><script>alert(1)</script>\nx\n```',
  '```js onload=alert(1)\nx\n```',
  '> <script>alert(1)</script>',
  '- <img src=x onerror=alert(1)>',
  '1. <svg onload=alert(1)>',
  '@"><script>alert(1)</script>',
  '@bob"onmouseover="alert(1)',
  "@bob'onmouseover='alert(1)",
  '**<b onmouseover=alert(1)>bold</b>**',
  '*_~~`<script>`~~_*',
  'https://ok.example/"><script>alert(1)</script>',
  'http://ok.example/\u0000<script>',
  'jav&#x0A;ascript:alert(1)',
  '\u003cscript\u003ealert(1)\u003c/script\u003e',
  '＜script＞alert(1)＜/script＞',
  '<scr\u0000ipt>alert(1)</scr\u0000ipt>',
  '\u202e<script>alert(1)</script>',
  '<a href="&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1)">x</a>',
  '<style>@import "javascript:alert(1)";</style>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
  '<!--<img src="--><img src=x onerror=alert(1)//">',
  '<![CDATA[<script>alert(1)</script>]]>',
  '[a](https://x.io)[b](javascript:alert(1))',
  `${'['.repeat(500)}x${']'.repeat(500)}(javascript:alert(1))`,
  `${'> '.repeat(200)}<script>`,
  `${'**'.repeat(2000)}<script>`,
  `${'*a '.repeat(3000)}`,
  '`'.repeat(5000),
];

describe('XSS corpus', () => {
  it('turns no attacker input into executable HTML', () => {
    for (const source of XSS_CORPUS) {
      const html = expectSafe(source);
      // Such words may survive as escaped text, never inside an attribute.
      for (const [, value] of html.matchAll(/="([^"]*)"/g))
        expect(unescapeHtml(value!).toLowerCase()).not.toMatch(/javascript:|vbscript:|data:/);
    }
  });

  it('escapes raw HTML as text', () => {
    expect(renderMarkdown('<b onclick="x()">hi</b> & co')).toBe(
      '<p>&lt;b onclick=&quot;x()&quot;&gt;hi&lt;/b&gt; &amp; co</p>',
    );
  });

  it('drops unsafe link targets but keeps the label text', () => {
    expect(renderMarkdown('[click me](javascript:alert(1))')).toBe('<p>click me</p>');
  });
});

describe('property: any input renders to allowlisted, inert HTML', () => {
  const pieces = [
    '<',
    '>',
    '"',
    "'",
    '&',
    '/',
    '\\',
    '=',
    ' ',
    '\n',
    '\t',
    '`',
    '```',
    '*',
    '**',
    '_',
    '__',
    '~~',
    '[',
    ']',
    '(',
    ')',
    '>',
    '- ',
    '1. ',
    '@',
    'a',
    'b',
    'x1',
    'script',
    'img',
    'svg',
    'src',
    'href',
    'onerror',
    'onload',
    'javascript:',
    'JaVaScRiPt:',
    'data:',
    'vbscript:',
    'http://',
    'https://',
    'mailto:',
    'alert(1)',
    '&#106;',
    '&#x3A;',
    '\u0000',
    '\u202e',
    '\u00a0',
    'é',
    '😀',
  ];
  const markdownish = fc.array(fc.constantFrom(...pieces), { maxLength: 80 }).map((parts) => parts.join(''));

  it('never emits <script, on*= attributes or tags outside the allowlist', () => {
    fc.assert(
      fc.property(fc.oneof(markdownish, fc.string({ maxLength: 200 })), (source) => {
        const html = renderMarkdown(source);
        expect(html).not.toMatch(/<script/i);
        expect(problemsOf(html)).toEqual([]);
      }),
      { numRuns: 3000 },
    );
  });
});
