// Block Kit as DOM, the way Slack lays it out: messages (header, section with fields and an
// accessory, context, actions with buttons, divider) and modals (input blocks with every element
// slack_hitl uses). Inputs register a reader so the modal can collect what the person filled in.

import { renderMarkdown, renderPlain, renderTextObject } from "./text.js";

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// context: { people, me, botUserId, onButton(button) , inputs: Map | undefined, errors: {} }
export function renderBlocks(blocks, context) {
  const root = element("div", "blocks");
  for (const block of blocks || []) root.appendChild(renderBlock(block, context));
  return root;
}

function renderBlock(block, context) {
  switch (block.type) {
    case "header":
      return wrap(block, "bk-header", renderPlain(block.text));
    case "section":
      return renderSection(block, context);
    case "context":
      return renderContext(block, context);
    case "actions":
      return renderActions(block, context);
    case "divider":
      return wrap(block, "bk-divider", element("hr"));
    case "input":
      return renderInput(block, context);
    case "markdown":
      return wrap(block, "bk-markdown", renderMarkdown(block.text || ""));
    default:
      return wrap(block, "bk-unsupported", element("span", "", `(a ${block.type} block)`));
  }
}

function wrap(block, className, child) {
  const node = element("div", `bk ${className}`);
  node.dataset.blockId = block.block_id || "";
  node.appendChild(child);
  return node;
}

function renderSection(block, context) {
  const node = element("div", "bk bk-section");
  node.dataset.blockId = block.block_id || "";
  const body = element("div", "bk-section-body");
  if (block.text) body.appendChild(renderTextObject(block.text, context));
  if (block.fields?.length) {
    const fields = element("div", "bk-fields");
    for (const field of block.fields) {
      const cell = element("div", "bk-field");
      cell.appendChild(renderTextObject(field, context));
      fields.appendChild(cell);
    }
    body.appendChild(fields);
  }
  node.appendChild(body);
  if (block.accessory?.type === "button") {
    const accessory = element("div", "bk-accessory");
    accessory.appendChild(renderButton(block.accessory, block, context));
    node.appendChild(accessory);
  }
  return node;
}

function renderContext(block, context) {
  const node = element("div", "bk bk-context");
  node.dataset.blockId = block.block_id || "";
  for (const item of block.elements || []) {
    if (item.type === "image") {
      const image = element("img", "bk-context-image");
      image.alt = item.alt_text || "";
      node.appendChild(image);
    } else {
      const span = element("span", "bk-context-item");
      span.appendChild(renderTextObject(item, context));
      node.appendChild(span);
    }
  }
  return node;
}

function renderActions(block, context) {
  const node = element("div", "bk bk-actions");
  node.dataset.blockId = block.block_id || "";
  for (const item of block.elements || []) {
    if (item.type === "button") node.appendChild(renderButton(item, block, context));
  }
  return node;
}

function renderButton(button, block, context) {
  const node = element("button", `bk-button${button.style ? " " + button.style : ""}`);
  node.type = "button";
  node.appendChild(renderPlain(button.text));
  node.dataset.actionId = button.action_id || "";
  node.dataset.blockId = block.block_id || "";
  if (!context.onButton) {
    node.disabled = true;
    return node;
  }
  node.addEventListener("click", () => {
    node.classList.add("pressed");
    Promise.resolve(context.onButton(button, block)).finally(() => node.classList.remove("pressed"));
  });
  return node;
}

// -- inputs ---------------------------------------------------------------------------------------

function renderInput(block, context) {
  const node = element("div", "bk bk-input");
  const blockId = block.block_id || "";
  node.dataset.blockId = blockId;
  const label = element("label", "bk-label");
  label.appendChild(renderPlain(block.label));
  if (block.optional) label.appendChild(element("span", "bk-optional", " (optional)"));
  node.appendChild(label);
  const control = renderControl(block.element || {});
  label.htmlFor = control.focusId || "";
  node.appendChild(control.node);
  if (block.hint) node.appendChild(element("div", "bk-hint", block.hint.text));
  const error = element("div", "bk-error");
  error.setAttribute("role", "alert");
  node.appendChild(error);
  context.inputs?.set(blockId, { block, read: control.read, node, error });
  return node;
}

let controls = 0;

function nextId() {
  controls += 1;
  return `control-${controls}`;
}

function optionsOf(element) {
  if (element.option_groups) return element.option_groups.flatMap((group) => group.options || []);
  return element.options || [];
}

function renderControl(spec) {
  switch (spec.type) {
    case "plain_text_input":
      return textControl(spec);
    case "number_input":
      return numberControl(spec);
    case "static_select":
      return selectControl(spec);
    case "multi_static_select":
      return multiSelectControl(spec);
    case "checkboxes":
      return choiceListControl(spec, "checkbox");
    case "radio_buttons":
      return choiceListControl(spec, "radio");
    case "datepicker":
      return dateControl(spec);
    default: {
      const node = element("div", "bk-unsupported", `(a ${spec.type} element)`);
      return { node, read: () => ({ empty: true }) };
    }
  }
}

function textControl(spec) {
  const input = document.createElement(spec.multiline ? "textarea" : "input");
  input.className = "bk-text-input";
  input.id = nextId();
  if (!spec.multiline) input.type = "text";
  if (spec.max_length) input.maxLength = spec.max_length;
  if (spec.placeholder) input.placeholder = spec.placeholder.text;
  input.value = spec.initial_value || "";
  return { node: input, focusId: input.id, read: () => ({ value: input.value, empty: input.value.trim() === "" }) };
}

function numberControl(spec) {
  const input = element("input", "bk-text-input bk-number");
  input.id = nextId();
  input.type = "text";
  input.inputMode = spec.is_decimal_allowed ? "decimal" : "numeric";
  input.value = spec.initial_value || "";
  return {
    node: input,
    focusId: input.id,
    read: () => ({ value: input.value.trim(), empty: input.value.trim() === "", problem: numberProblem(spec, input.value) }),
  };
}

// What Slack's client says before it sends a number_input it cannot accept.
function numberProblem(spec, raw) {
  const text = raw.trim();
  if (!text) return null;
  const number = Number(text);
  if (!Number.isFinite(number)) return "Please enter a number.";
  if (!spec.is_decimal_allowed && !Number.isInteger(number)) return "Please enter a whole number.";
  const low = spec.min_value !== undefined ? Number(spec.min_value) : null;
  const high = spec.max_value !== undefined ? Number(spec.max_value) : null;
  if ((low !== null && number < low) || (high !== null && number > high)) {
    if (low !== null && high !== null) return `Please enter a number between ${low} and ${high}.`;
    return low !== null ? `Please enter a number of at least ${low}.` : `Please enter a number of at most ${high}.`;
  }
  return null;
}

function selectControl(spec) {
  const select = element("select", "bk-select");
  select.id = nextId();
  const placeholder = element("option", "", spec.placeholder?.text || "Select an item");
  placeholder.value = "";
  select.appendChild(placeholder);
  const groups = spec.option_groups || [{ options: spec.options || [] }];
  for (const group of groups) {
    const parent = group.label ? element("optgroup") : select;
    if (group.label) {
      parent.label = group.label.text;
      select.appendChild(parent);
    }
    for (const option of group.options || []) {
      const item = element("option", "", option.text.text);
      item.value = option.value;
      parent.appendChild(item);
    }
  }
  select.value = spec.initial_option?.value ?? "";
  return { node: select, focusId: select.id, read: () => ({ value: select.value, empty: select.value === "" }) };
}

// Chosen options as removable tokens in the order they were picked, and a menu to add more:
// how Slack shows (and sends) a multi-select.
function multiSelectControl(spec) {
  const node = element("div", "bk-multi");
  const tokens = element("div", "bk-tokens");
  const adder = element("select", "bk-select bk-multi-add");
  adder.id = nextId();
  adder.setAttribute("aria-label", "Add an option");
  const options = optionsOf(spec);
  const byValue = new Map(options.map((option) => [option.value, option]));
  let chosen = (spec.initial_options || []).map((option) => option.value).filter((value) => byValue.has(value));
  const draw = () => {
    tokens.replaceChildren();
    for (const option of chosen.map((value) => byValue.get(value))) {
      const token = element("span", "bk-token", option.text.text);
      const remove = element("button", "bk-token-remove", "×");
      remove.type = "button";
      remove.setAttribute("aria-label", `Remove ${option.text.text}`);
      remove.addEventListener("click", () => {
        chosen = chosen.filter((value) => value !== option.value);
        draw();
      });
      token.appendChild(remove);
      tokens.appendChild(token);
    }
    adder.replaceChildren(element("option", "", chosen.length ? "Add more…" : spec.placeholder?.text || "Select items"));
    adder.firstChild.value = "";
    for (const option of options.filter((o) => !chosen.includes(o.value))) {
      const item = element("option", "", option.text.text);
      item.value = option.value;
      adder.appendChild(item);
    }
    adder.value = "";
  };
  adder.addEventListener("change", () => {
    if (adder.value) chosen.push(adder.value);
    draw();
  });
  draw();
  node.append(tokens, adder);
  const read = () => ({ value: [...chosen], empty: chosen.length === 0 });
  return { node, focusId: adder.id, read };
}

function choiceListControl(spec, kind) {
  const node = element("div", `bk-choices bk-${kind}`);
  const name = nextId();
  const initial = new Set(
    kind === "radio" ? [spec.initial_option?.value].filter(Boolean) : (spec.initial_options || []).map((o) => o.value),
  );
  const boxes = [];
  for (const option of spec.options || []) {
    const row = element("label", "bk-choice");
    const box = element("input");
    box.type = kind;
    box.name = name;
    box.value = option.value;
    box.checked = initial.has(option.value);
    boxes.push(box);
    const text = element("span", "bk-choice-text");
    text.appendChild(renderTextObject(option.text, {}));
    if (option.description) text.appendChild(element("span", "bk-choice-description", option.description.text));
    row.append(box, text);
    node.appendChild(row);
  }
  const read = () => {
    const checked = boxes.filter((box) => box.checked).map((box) => box.value);
    if (kind === "radio") return { value: checked[0] ?? "", empty: checked.length === 0 };
    return { value: checked, empty: checked.length === 0 };
  };
  return { node, read };
}

function dateControl(spec) {
  const input = element("input", "bk-text-input bk-date");
  input.id = nextId();
  input.type = "date";
  input.value = spec.initial_date || "";
  return { node: input, focusId: input.id, read: () => ({ value: input.value, empty: input.value === "" }) };
}
