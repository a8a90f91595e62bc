// Slack text as DOM: mrkdwn (what messages and modals carry), markdown (what streamed replies
// carry), plain_text, emoji shortcodes and date tokens. Everything is built with DOM nodes and
// textContent, never innerHTML, so no text the app posts can inject markup into the console.

const EMOJI = {
  white_check_mark: { glyph: "check", color: "#2eb67d" },
  heavy_check_mark: { glyph: "check", color: "#2eb67d" },
  ballot_box_with_check: { glyph: "check", color: "#1264a3" },
  x: { glyph: "cross", color: "#e01e5a" },
  no_entry_sign: { glyph: "noentry", color: "#e01e5a" },
  warning: { glyph: "warning", color: "#ecb22e" },
  speech_balloon: { glyph: "balloon", color: "#1d9bd1" },
  hourglass: { glyph: "hourglass", color: "#b07d2b" },
  hourglass_flowing_sand: { glyph: "hourglass", color: "#b07d2b" },
  alarm_clock: { glyph: "clock", color: "#e01e5a" },
  black_right_pointing_double_triangle_with_vertical_bar: { glyph: "skip", color: "#616061" },
  tada: { glyph: "tada", color: "#e8912d" },
};

// Unicode emoji the core writes directly (tool progress marks), drawn like their shortcodes.
const UNICODE_EMOJI = {
  "\u23f3": "hourglass_flowing_sand",
  "\u2705": "white_check_mark",
  "\u274c": "x",
  "\u23ed\ufe0f": "black_right_pointing_double_triangle_with_vertical_bar",
  "\u23ed": "black_right_pointing_double_triangle_with_vertical_bar",
  "\u26a0\ufe0f": "warning",
  "\ud83c\udf89": "tada",
};

const GLYPHS = {
  check: "M4 8.5l2.5 2.5L12 5.5",
  cross: "M5 5l6 6M11 5l-6 6",
  noentry: "M4.5 11.5l7-7",
  warning: "M8 4.5v4M8 10.8v.4",
  balloon: "M5 7h6M5 9.5h4",
  hourglass: "M4.5 3.5h7M4.5 12.5h7M6 3.5l4 4.5-4 4.5M10 3.5L6 8l4 4.5",
  clock: "M8 5v3.2l2 1.3",
  skip: "M4.5 5l3.5 3-3.5 3M8 5l3.5 3L8 11M11.8 5v6",
  tada: "M4 12l2.5-7 4.5 4.5zM9.5 4.5l.7-1.5M11.5 6.5l1.5-.5M10.8 5.2l1.2-1.2",
};

const SVG = "http://www.w3.org/2000/svg";

export function emojiNode(name) {
  const emoji = EMOJI[name];
  if (!emoji) return null;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("class", "emoji");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `:${name}:`);
  const back = document.createElementNS(SVG, "rect");
  back.setAttribute("x", "1");
  back.setAttribute("y", "1");
  back.setAttribute("width", "14");
  back.setAttribute("height", "14");
  back.setAttribute("rx", emoji.glyph === "balloon" || emoji.glyph === "clock" || emoji.glyph === "noentry" ? "7" : "3");
  back.setAttribute("fill", emoji.color);
  svg.appendChild(back);
  const mark = document.createElementNS(SVG, "path");
  mark.setAttribute("d", GLYPHS[emoji.glyph]);
  mark.setAttribute("stroke", "#fff");
  mark.setAttribute("stroke-width", "1.8");
  mark.setAttribute("stroke-linecap", "round");
  mark.setAttribute("stroke-linejoin", "round");
  mark.setAttribute("fill", "none");
  svg.appendChild(mark);
  return svg;
}

const EMOJI_PATTERN = new RegExp(
  ":([a-z0-9_+-]+):|(" + Object.keys(UNICODE_EMOJI).sort((a, b) => b.length - a.length).join("|") + ")",
  "g",
);

// Text with :shortcodes: and known emoji characters drawn as icons.
export function appendTextWithEmoji(parent, text) {
  let position = 0;
  for (const match of text.matchAll(EMOJI_PATTERN)) {
    const name = match[1] || UNICODE_EMOJI[match[2]];
    const icon = emojiNode(name);
    if (!icon) continue;
    if (match.index > position) parent.appendChild(document.createTextNode(text.slice(position, match.index)));
    parent.appendChild(icon);
    position = match.index + match[0].length;
  }
  if (position < text.length) parent.appendChild(document.createTextNode(text.slice(position)));
}

export function renderPlain(textObject) {
  const span = document.createElement("span");
  const text = textObject?.text ?? "";
  if (textObject?.emoji === false) span.textContent = text;
  else appendTextWithEmoji(span, text);
  return span;
}

export function renderTextObject(textObject, context) {
  if (!textObject) return document.createElement("span");
  if (textObject.type === "mrkdwn") return renderMrkdwn(textObject.text ?? "", context);
  return renderPlain(textObject);
}

// -- dates ----------------------------------------------------------------------------------------

const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

function ordinal(day) {
  const tens = day % 100;
  if (tens >= 11 && tens <= 13) return `${day}th`;
  return `${day}${{ 1: "st", 2: "nd", 3: "rd" }[day % 10] || "th"}`;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

function relativeDay(date) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  if (sameDay(date, today)) return "Today";
  if (sameDay(date, yesterday)) return "Yesterday";
  if (sameDay(date, tomorrow)) return "Tomorrow";
  return null;
}

export function formatTime(date, seconds = false) {
  const options = { hour: "numeric", minute: "2-digit" };
  if (seconds) options.second = "2-digit";
  return date.toLocaleTimeString("en-US", options);
}

function ago(date) {
  const minutes = Math.round((Date.now() - date.getTime()) / 60000);
  if (Math.abs(minutes) < 1) return "just now";
  if (minutes > 0) return minutes < 60 ? `${minutes} minutes ago` : `${Math.round(minutes / 60)} hours ago`;
  return -minutes < 60 ? `in ${-minutes} minutes` : `in ${Math.round(-minutes / 60)} hours`;
}

// Slack's <!date^ts^format|fallback> tokens, in this reader's time zone.
export function formatSlackDate(seconds, format) {
  const date = new Date(seconds * 1000);
  const month = MONTHS[date.getMonth()];
  const short = `${month.slice(0, 3)} ${date.getDate()}`;
  const tokens = {
    date_num: `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`,
    date: `${month} ${ordinal(date.getDate())}, ${date.getFullYear()}`,
    date_short: `${short}, ${date.getFullYear()}`,
    date_long: `${date.toLocaleDateString("en-US", { weekday: "long" })}, ${month} ${ordinal(date.getDate())}, ${date.getFullYear()}`,
    time: formatTime(date),
    time_secs: formatTime(date, true),
    ago: ago(date),
  };
  tokens.date_pretty = relativeDay(date) || tokens.date;
  tokens.date_short_pretty = relativeDay(date) || short;
  tokens.date_long_pretty = relativeDay(date) || tokens.date_long;
  return format.replace(/\{(\w+)\}/g, (whole, name) => tokens[name] ?? whole);
}

// -- mrkdwn ---------------------------------------------------------------------------------------

const TOKEN_OPEN = "\ue000";
const TOKEN_CLOSE = "\ue001";

function decodeEntities(text) {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function personName(context, userId) {
  const person = context.people?.[userId];
  if (person) return person.real_name || person.name;
  if (userId === context.botUserId) return "slack_hitl";
  return userId;
}

// One <...> token: a mention, a channel, a broadcast, a date or a link.
function renderToken(body, context) {
  const [target, label] = splitOnce(body, "|");
  if (target.startsWith("@")) {
    const id = target.slice(1);
    const span = document.createElement("span");
    span.className = "mention" + (id === context.me ? " mention-me" : "");
    span.textContent = "@" + (label || personName(context, id));
    return span;
  }
  if (target.startsWith("#")) {
    const span = document.createElement("span");
    span.className = "mention";
    span.textContent = "#" + (label || target.slice(1).toLowerCase());
    return span;
  }
  if (target.startsWith("!date^")) {
    const [, seconds, format, link] = target.split("^");
    const text = Number.isFinite(Number(seconds)) ? formatSlackDate(Number(seconds), format || "{date}") : label || "";
    const href = link && safeHref(decodeEntities(link));
    const node = document.createElement(href ? "a" : "span");
    if (href) node.href = href;
    node.className = "slack-date";
    node.textContent = text;
    node.title = label || "";
    return node;
  }
  if (target.startsWith("!subteam^")) {
    const span = document.createElement("span");
    span.className = "mention";
    span.textContent = label || "@" + target.slice("!subteam^".length);
    return span;
  }
  if (target.startsWith("!")) {
    const span = document.createElement("span");
    span.className = "mention mention-me";
    span.textContent = "@" + target.slice(1);
    return span;
  }
  const href = safeHref(decodeEntities(target));
  if (!href) {
    // Slack links only http(s) and mailto: anything else (javascript:, data:...) is shown as text.
    const span = document.createElement("span");
    span.textContent = decodeEntities(label ? `${label} (${target})` : target);
    return span;
  }
  const link = document.createElement("a");
  link.href = href;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  link.textContent = decodeEntities(label || target);
  return link;
}

// The URL when it is one a link may open (http, https, mailto), else null.
function safeHref(url) {
  try {
    const parsed = new URL(url.trim());
    return ["http:", "https:", "mailto:"].includes(parsed.protocol) ? url : null;
  } catch {
    return null;
  }
}

function splitOnce(text, separator) {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 1)];
}

// Bold, italic and strike: markers that touch a word inside, and not a letter outside.
const STYLES = [
  { tag: "b", pattern: /(?<![\p{L}\p{N}*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\p{L}\p{N}*])/u },
  { tag: "i", pattern: /(?<![\p{L}\p{N}_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\p{L}\p{N}_])/u },
  { tag: "s", pattern: /(?<![\p{L}\p{N}~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\p{L}\p{N}~])/u },
];

function appendStyled(parent, text, tokens) {
  let earliest = null;
  for (const style of STYLES) {
    const match = style.pattern.exec(text);
    if (match && (earliest === null || match.index < earliest.match.index)) earliest = { style, match };
  }
  if (earliest === null) {
    appendWithTokens(parent, text, tokens);
    return;
  }
  const { style, match } = earliest;
  appendWithTokens(parent, text.slice(0, match.index), tokens);
  const element = document.createElement(style.tag);
  appendStyled(element, match[1], tokens);
  parent.appendChild(element);
  appendStyled(parent, text.slice(match.index + match[0].length), tokens);
}

function appendWithTokens(parent, text, tokens) {
  const pattern = new RegExp(`${TOKEN_OPEN}(\\d+)${TOKEN_CLOSE}`, "g");
  let position = 0;
  for (const match of text.matchAll(pattern)) {
    appendTextWithEmoji(parent, text.slice(position, match.index));
    parent.appendChild(tokens[Number(match[1])]);
    position = match.index + match[0].length;
  }
  appendTextWithEmoji(parent, text.slice(position));
}

// A run of mrkdwn without code: <tokens> set aside, entities decoded, then styles applied.
function appendMrkdwnInline(parent, text, context) {
  const tokens = [];
  const marked = text.replace(/<([^<>\n]+)>/g, (whole, body) => {
    tokens.push(renderToken(body, context));
    return `${TOKEN_OPEN}${tokens.length - 1}${TOKEN_CLOSE}`;
  });
  appendStyled(parent, decodeEntities(marked), tokens);
}

function appendMrkdwnLine(parent, text, context) {
  const pieces = text.split(/(`[^`\n]+`)/);
  for (const piece of pieces) {
    if (piece.length > 2 && piece.startsWith("`") && piece.endsWith("`")) {
      const code = document.createElement("code");
      code.textContent = decodeEntities(piece.slice(1, -1));
      parent.appendChild(code);
    } else if (piece) {
      appendMrkdwnInline(parent, piece, context);
    }
  }
}

function appendMrkdwnProse(parent, text, context) {
  const lines = text.split("\n");
  let quote = null;
  lines.forEach((line, index) => {
    const quoted = /^(>|&gt;)/.test(line);
    if (quoted) {
      if (quote === null) {
        quote = document.createElement("blockquote");
        parent.appendChild(quote);
      } else {
        quote.appendChild(document.createTextNode("\n"));
      }
      appendMrkdwnLine(quote, line.replace(/^(>|&gt;)\s?/, ""), context);
      return;
    }
    quote = null;
    appendMrkdwnLine(parent, line, context);
    if (index < lines.length - 1 && !/^(>|&gt;)/.test(lines[index + 1] ?? "")) {
      parent.appendChild(document.createTextNode("\n"));
    }
  });
}

export function renderMrkdwn(text, context = {}) {
  const root = document.createElement("span");
  root.className = "mrkdwn";
  const parts = text.split(/```([\s\S]*?)```/);
  parts.forEach((part, index) => {
    if (index % 2 === 1) {
      const pre = document.createElement("pre");
      pre.textContent = decodeEntities(part.replace(/^\n/, ""));
      root.appendChild(pre);
    } else if (part) {
      appendMrkdwnProse(root, part, context);
    }
  });
  return root;
}

// -- markdown (streamed replies) ----------------------------------------------------------------

const MARKDOWN_INLINE =
  /`([^`\n]+)`|\*\*([^*\n]+?)\*\*|__([^_\n]+?)__|~~([^~\n]+?)~~|(?<![\p{L}\p{N}*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\p{L}\p{N}*])|(?<![\p{L}\p{N}_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\p{L}\p{N}_])|\[([^\]\n]+)\]\((https?:\/\/[^)\s]+)\)/u;

function appendMarkdownInline(parent, text) {
  let rest = text;
  while (rest) {
    const match = MARKDOWN_INLINE.exec(rest);
    if (!match) {
      appendTextWithEmoji(parent, rest);
      return;
    }
    appendTextWithEmoji(parent, rest.slice(0, match.index));
    let element;
    if (match[1] !== undefined) {
      element = document.createElement("code");
      element.textContent = match[1];
    } else if (match[7] !== undefined) {
      element = document.createElement("a");
      element.href = match[8];
      element.target = "_blank";
      element.rel = "noopener noreferrer";
      appendMarkdownInline(element, match[7]);
    } else {
      const [tag, inner] =
        match[2] !== undefined ? ["b", match[2]]
        : match[3] !== undefined ? ["b", match[3]]
        : match[4] !== undefined ? ["s", match[4]]
        : match[5] !== undefined ? ["i", match[5]]
        : ["i", match[6]];
      element = document.createElement(tag);
      appendMarkdownInline(element, inner);
    }
    parent.appendChild(element);
    rest = rest.slice(match.index + match[0].length);
  }
}

export function renderMarkdown(text) {
  const root = document.createElement("div");
  root.className = "markdown";
  const lines = text.replace(/^\n+/, "").split("\n");
  let list = null;
  let paragraph = null;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index];
    if (line.startsWith("```")) {
      const body = [];
      index++;
      while (index < lines.length && !lines[index].startsWith("```")) body.push(lines[index++]);
      const pre = document.createElement("pre");
      pre.textContent = body.join("\n");
      root.appendChild(pre);
      list = paragraph = null;
      continue;
    }
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    const item = /^\s*(?:[-*+]|\d+\.)\s+(.*)$/.exec(line);
    if (!line.trim()) {
      list = paragraph = null;
    } else if (heading) {
      const element = document.createElement("div");
      element.className = "md-heading";
      appendMarkdownInline(element, heading[1]);
      root.appendChild(element);
      list = paragraph = null;
    } else if (item) {
      if (list === null) {
        list = document.createElement("ul");
        root.appendChild(list);
      }
      const li = document.createElement("li");
      appendMarkdownInline(li, item[1]);
      list.appendChild(li);
      paragraph = null;
    } else {
      if (paragraph === null) {
        paragraph = document.createElement("p");
        root.appendChild(paragraph);
      } else {
        paragraph.appendChild(document.createElement("br"));
      }
      appendMarkdownInline(paragraph, line);
      list = null;
    }
  }
  return root;
}
