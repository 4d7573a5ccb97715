/**
 * Email templates: every email has a plain-text and an HTML part built from the same data. Every
 * value that comes from users (names, message text, channel names) is HTML-escaped in the HTML
 * part; the text part is plain. Pure functions: tested without SMTP.
 */

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

/** Escapes the five HTML-significant characters. */
export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Keeps subjects and previews short, on one line. */
function clip(value: string, max: number): string {
  const line = value.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

const layout = (body: string, footer: string) =>
  `<!doctype html><html><body style="font-family:sans-serif;line-height:1.4">${body}<hr><p style="color:#666;font-size:12px">${footer}</p></body></html>`;

export interface MentionEmailData {
  appName: string;
  authorName: string;
  channelName: string;
  text: string;
  unsubscribeUrl: string;
}

export function mentionEmail(d: MentionEmailData): RenderedEmail {
  const subject = clip(`${d.authorName} mentioned you in ${d.channelName}`, 150);
  const text = [
    `${d.authorName} mentioned you in ${d.channelName} (${d.appName}):`,
    '',
    d.text,
    '',
    '--',
    `Stop these emails: ${d.unsubscribeUrl}`,
  ].join('\n');
  const html = layout(
    `<p><strong>${escapeHtml(d.authorName)}</strong> mentioned you in <strong>${escapeHtml(d.channelName)}</strong> (${escapeHtml(d.appName)}):</p>` +
      `<blockquote style="white-space:pre-wrap">${escapeHtml(d.text)}</blockquote>`,
    `<a href="${escapeHtml(d.unsubscribeUrl)}">Stop mention emails</a>`,
  );
  return { subject, text, html };
}

export interface DigestEmailData {
  appName: string;
  /** Newest first. */
  messages: { channelName: string; authorName: string; text: string }[];
  /** Unread messages in all (may exceed messages.length). */
  total: number;
  unsubscribeUrl: string;
}

export function digestEmail(d: DigestEmailData): RenderedEmail {
  const channels = new Set(d.messages.map((m) => m.channelName)).size;
  const subject = `${d.total} unread message${d.total === 1 ? '' : 's'} in ${d.appName}`;
  const more = d.total - d.messages.length;
  const text = [
    `You have ${d.total} unread message${d.total === 1 ? '' : 's'} in ${channels} channel${channels === 1 ? '' : 's'}:`,
    '',
    ...d.messages.map((m) => `${m.channelName} · ${m.authorName}: ${clip(m.text, 200)}`),
    ...(more > 0 ? ['', `… and ${more} more.`] : []),
    '',
    '--',
    `Stop digest emails: ${d.unsubscribeUrl}`,
  ].join('\n');
  const html = layout(
    `<p>You have ${d.total} unread message${d.total === 1 ? '' : 's'} in ${escapeHtml(d.appName)}:</p><ul>` +
      d.messages
        .map(
          (m) =>
            `<li><strong>${escapeHtml(m.channelName)}</strong> · ${escapeHtml(m.authorName)}: ${escapeHtml(clip(m.text, 200))}</li>`,
        )
        .join('') +
      `</ul>${more > 0 ? `<p>… and ${more} more.</p>` : ''}`,
    `<a href="${escapeHtml(d.unsubscribeUrl)}">Stop digest emails</a>`,
  );
  return { subject, text, html };
}

export interface InviteEmailData {
  appName: string;
  inviterName: string | null;
  /** Where the invitee accepts (built by the caller, e.g. the accounts flow). */
  link: string;
  /** A short note from the inviter. */
  note?: string | null;
}

export function inviteEmail(d: InviteEmailData): RenderedEmail {
  const who = d.inviterName ? `${d.inviterName} invited you` : 'You are invited';
  const subject = clip(`${who} to ${d.appName}`, 150);
  const text = [
    `${who} to ${d.appName}.`,
    ...(d.note ? ['', d.note] : []),
    '',
    `Accept the invitation: ${d.link}`,
  ].join('\n');
  const html = layout(
    `<p>${escapeHtml(who)} to <strong>${escapeHtml(d.appName)}</strong>.</p>` +
      (d.note ? `<blockquote style="white-space:pre-wrap">${escapeHtml(d.note)}</blockquote>` : '') +
      `<p><a href="${escapeHtml(d.link)}">Accept the invitation</a></p>`,
    'You received this email because someone invited this address.',
  );
  return { subject, text, html };
}
