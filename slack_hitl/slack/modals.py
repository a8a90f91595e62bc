"""The modal that decides one row, and reading its submission back.

Each input block has a block_id derived from what it asks for (``f:<field>``, ``q:<question>``,
``qt:<question>`` for a question's free text, ``choice``, ``reason``, ``result``), so the core's
per-field errors map back onto the right input. Option values are positions in the
requirement's own list, never the user's text: Slack caps option values at 150 characters and
user-defined choices can be longer.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    DatePickerElement,
    InputBlock,
    InputInteractiveElement,
    NumberInputElement,
    Option,
    OptionGroup,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from slack_hitl.approvals import Approval, Row
from slack_hitl.decisions import CHOICE, REASON, RESULT, DecisionInput
from slack_hitl.errors import DecisionInvalid
from slack_hitl.requirements import Choice, InputField, Question, Requirement
from slack_hitl.slack.documented_limits import (
    CHOICE_LIST_OPTIONS,
    OPTION_TEXT,
    SECTION_TEXT,
    SELECT_OPTIONS,
    TEXT_INPUT_LENGTH,
    VIEW_BUTTON,
    VIEW_BYTES,
)
from slack_hitl.slack.ids import MODAL_CALLBACK_ID, VALUE_ACTION_ID, MalformedAction, ModalRef, encode_metadata
from slack_hitl.slack.limits import SlackLimitError, view_size
from slack_hitl.slack.markdown import clip_source, cut, cut_mrkdwn, escape, escape_line, plain_line, to_mrkdwn
from slack_hitl.slack.render import argument_fields, button_label, mrkdwn

RADIO_MAX_OPTIONS = 5
"""A single choice with more options than this is a dropdown, not radio buttons."""
ERROR_TEXT = 150
INTRO_BLOCK = "intro"

_TITLES = {
    "confirmation": "Decide",
    "user_input": "Provide input",
    "user_feedback": "Answer",
    "external_execution": "Submit result",
}

Shape = Literal["text", "number", "one", "many", "date"]
_SHAPE_TYPES: dict[Shape, frozenset[str]] = {
    "text": frozenset({"plain_text_input"}),
    "number": frozenset({"number_input"}),
    "one": frozenset({"static_select", "radio_buttons"}),
    "many": frozenset({"multi_static_select", "checkboxes"}),
    "date": frozenset({"datepicker"}),
}
_FIELD_SHAPES: dict[str, Shape] = {
    "text": "text",
    "long_text": "text",
    "number": "number",
    "integer": "number",
    "boolean": "many",
    "single_choice": "one",
    "multiple_choice": "many",
    "date": "date",
}


@dataclass(frozen=True)
class _Caps:
    """How much of each user text a modal shows; tighter caps are tried when a view is too large."""

    intro: int
    label: int
    hint: int


_CAPS = (_Caps(intro=SECTION_TEXT, label=2000, hint=2000), _Caps(1000, 300, 300), _Caps(300, 75, 75))


def field_block_id(field: InputField) -> str:
    return f"f:{field.name}"


def question_block_id(question: Question) -> str:
    return f"q:{question.name}"


def question_text_block_id(question: Question) -> str:
    return f"qt:{question.name}"


def reason_required(requirement: Requirement, choice: Choice | None) -> bool:
    """Whether deciding ``requirement`` with ``choice`` needs a reason (so a click must open the modal)."""
    return requirement.confirmation is not None and requirement.confirmation.needs_reason(choice)


def build_modal(approval: Approval, row: Row, *, choice: str | None, channel: str, message_ts: str) -> dict[str, Any]:
    """The modal view (a dict for views.open) that decides ``row``.

    ``choice`` is the confirmation choice already clicked (the modal then asks for its reason
    and, for an approving choice, the row's fields); None shows the choice in the modal.
    ``channel`` and ``message_ts`` name the message the click came from; they travel in the
    view's private_metadata with the approval id, row id and version.
    """
    requirement = row.requirement
    chosen = _preset_choice(requirement, choice)
    metadata = encode_metadata(ModalRef(approval.id, row.id, approval.version, choice, channel, message_ts))
    view: dict[str, Any] = {}
    for caps in _CAPS:
        view = _view(requirement, chosen, metadata, caps)
        if view_size(view) <= VIEW_BYTES:
            break
    return view


def modal_input_block_ids(requirement: Requirement, choice: str | None) -> list[str]:
    """The block_ids of the input blocks ``build_modal`` gives this row, in order."""
    chosen = _preset_choice(requirement, choice)
    return [block.block_id for block in _input_blocks(requirement, chosen, _CAPS[-1]) if block.block_id]


def parse_submission(requirement: Requirement, state_values: dict[str, Any], *, choice: str | None) -> DecisionInput:
    """What the person submitted, from Slack's ``view.state.values``; ``MalformedAction`` if our modal cannot have sent it."""
    states = _element_states(state_values)
    readers = _readers(requirement)
    unknown = sorted(set(states) - set(readers))
    if unknown:
        raise MalformedAction(f"the submission has inputs this row's modal does not have: {unknown[:5]}")
    read = {block_id: readers[block_id](state) for block_id, state in states.items()}
    reason = read.get(REASON)
    if requirement.kind == "confirmation":
        choices = (choice,) if choice is not None else tuple(_as_list(read.get(CHOICE)))
        values = {f.name: read[field_block_id(f)] for f in requirement.fields if field_block_id(f) in read}
        return DecisionInput(choices=choices, values=values, reason=reason)
    if requirement.kind == "user_input":
        values = {f.name: read[field_block_id(f)] for f in requirement.fields if field_block_id(f) in read}
        return DecisionInput(values=values, reason=reason)
    if requirement.kind == "user_feedback":
        return DecisionInput(values=_answers(requirement.questions, read), reason=reason)
    return DecisionInput(result=read.get(RESULT), reason=reason)


def submission_errors(requirement: Requirement, error: DecisionInvalid, *, choice: str | None = None) -> dict[str, str]:
    """The core's per-field errors keyed by the modal's input block_ids (for ``response_action: errors``).

    Every key is an input block of the modal built for ``choice``; a problem without an input
    of its own (an unknown field, a choice made by button) is shown on the first input. Empty
    when that modal has no input at all.
    """
    present = modal_input_block_ids(requirement, choice)
    if not present:
        return {}  # nothing to attach errors to; the caller must answer some other way
    targets = _error_targets(requirement)
    errors: dict[str, str] = {}
    for key, message in error.errors.items():
        block_id = targets.get(key)
        if block_id not in present:
            block_id = present[0]
            message = f"{key}: {message}"
        errors[block_id] = f"{errors[block_id]}; {message}" if block_id in errors else message
    return {block_id: cut(message, ERROR_TEXT) for block_id, message in errors.items()}


# -- the view -------------------------------------------------------------------------------------


def _preset_choice(requirement: Requirement, choice: str | None) -> Choice | None:
    if choice is None:
        return None
    confirmation = requirement.confirmation
    chosen = confirmation.choice(choice) if confirmation else None
    if chosen is None:
        raise ValueError(f"row {requirement.id!r} has no choice {choice!r}")
    return chosen


def _view(requirement: Requirement, chosen: Choice | None, metadata: str, caps: _Caps) -> dict[str, Any]:
    blocks: list[Block] = [_intro(requirement, chosen, caps), *_input_blocks(requirement, chosen, caps)]
    submit = cut(_choice_label(requirement, chosen), VIEW_BUTTON) if chosen else "Submit"
    view = View(
        type="modal",
        callback_id=MODAL_CALLBACK_ID,
        title=PlainTextObject(text=_TITLES[requirement.kind]),
        submit=PlainTextObject(text=submit),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=blocks,
    )
    return view.to_dict()


def _choice_label(requirement: Requirement, chosen: Choice) -> str:
    assert requirement.confirmation is not None  # only confirmations have choices
    return button_label(chosen, requirement.confirmation.choices.index(chosen))


def _intro(requirement: Requirement, chosen: Choice | None, caps: _Caps) -> SectionBlock:
    pieces = [f"*{escape_line(requirement.title, 300) or '(untitled)'}*"]
    if chosen is not None:
        pieces.append(f"You chose *{escape(_choice_label(requirement, chosen))}*.")
    if requirement.description.strip():
        pieces.append(to_mrkdwn(clip_source(requirement.description.strip(), caps.intro)))
    fields = argument_fields(requirement.arguments) or None
    return SectionBlock(block_id=INTRO_BLOCK, text=mrkdwn(cut_mrkdwn("\n".join(pieces), caps.intro)), fields=fields)


def _input_blocks(requirement: Requirement, chosen: Choice | None, caps: _Caps) -> list[InputBlock]:
    if requirement.kind == "confirmation":
        return _confirmation_inputs(requirement, chosen, caps)
    if requirement.kind == "user_input":
        return [_field_input(field, caps, relaxed=False) for field in requirement.fields]
    if requirement.kind == "user_feedback":
        return [block for question in requirement.questions for block in _question_inputs(question, caps)]
    hint = "Paste the result as JSON." if requirement.result_format == "json" else None
    result = PlainTextInputElement(action_id=VALUE_ACTION_ID, multiline=True)
    return [_input(RESULT, "Result", result, caps, hint=hint, optional=False)]


def _confirmation_inputs(requirement: Requirement, chosen: Choice | None, caps: _Caps) -> list[InputBlock]:
    confirmation = requirement.confirmation
    assert confirmation is not None  # a confirmation row always has its settings
    blocks: list[InputBlock] = []
    may_reject = any(c.rejects for c in confirmation.choices)
    if chosen is None:
        labels = [button_label(c, i) for i, c in enumerate(confirmation.choices)]
        element = _choice_element(labels, multiple=confirmation.multiple, radio_max=CHOICE_LIST_OPTIONS)
        blocks.append(_input(CHOICE, "Decision", element, caps, optional=False))
    if chosen is None or not chosen.rejects:
        # With the choice still open, Slack must not force fields a rejection does not need;
        # the core checks them once the choice is known.
        relaxed = chosen is None and may_reject
        blocks.extend(_field_input(field, caps, relaxed=relaxed) for field in requirement.fields)
    asking = [c for c in confirmation.choices if c.asks] if chosen is None else [chosen] if chosen.asks else []
    if requirement.reason_policy != "none" or asking:
        required = reason_required(requirement, chosen)
        label = chosen.asks if chosen is not None and chosen.asks else "Reason"
        reason = PlainTextInputElement(action_id=VALUE_ACTION_ID, multiline=True, max_length=TEXT_INPUT_LENGTH)
        hint = None if required else _reason_hint(requirement, asking)
        blocks.append(_input(REASON, label, reason, caps, hint=hint, optional=not required))
    return blocks


def _reason_hint(requirement: Requirement, asking: list[Choice]) -> str | None:
    """When an optional reason box is required after all: on a rejection, or for a choice that asks."""
    assert requirement.confirmation is not None  # only confirmations have a reason box
    when = ["you reject"] if requirement.reason_policy == "required_on_reject" else []
    labels = requirement.confirmation.choices
    when += [f"you choose {button_label(c, labels.index(c))} ({c.asks})" for c in asking]
    return f"Required if {' or '.join(when)}." if when else None


def _question_inputs(question: Question, caps: _Caps) -> list[InputBlock]:
    blocks = []
    if question.options:
        labels = [_option_label(option, i) for i, option in enumerate(question.options)]
        element = _choice_element(labels, multiple=question.multiple, radio_max=CHOICE_LIST_OPTIONS)
        optional = not question.required or question.allow_free_text
        blocks.append(_input(question_block_id(question), question.question, element, caps, optional=optional))
    if question.allow_free_text:
        label = "Or answer in your own words" if question.options else question.question
        text = PlainTextInputElement(action_id=VALUE_ACTION_ID, multiline=True)
        optional = bool(question.options) or not question.required
        blocks.append(_input(question_text_block_id(question), label, text, caps, optional=optional))
    return blocks


def _field_input(field: InputField, caps: _Caps, *, relaxed: bool) -> InputBlock:
    element = _FIELD_ELEMENTS[field.type](field)
    optional = not field.required or field.type == "boolean" or relaxed
    hint = field.description.strip() or None
    if relaxed and field.required and field.type != "boolean":
        hint = f"{hint} (Required unless you reject.)" if hint else "Required unless you reject."
    return _input(field_block_id(field), field.title, element, caps, hint=hint, optional=optional)


def _input(
    block_id: str,
    label: str,
    element: InputInteractiveElement,
    caps: _Caps,
    *,
    optional: bool,
    hint: str | None = None,
) -> InputBlock:
    hint_text = plain_line(hint, caps.hint) if hint else None
    return InputBlock(
        block_id=block_id,
        label=PlainTextObject(text=plain_line(label, caps.label) or block_id),
        element=element,
        hint=PlainTextObject(text=hint_text) if hint_text else None,
        optional=optional,
    )


# -- elements per field type ------------------------------------------------------------------------


def _text_element(field: InputField) -> PlainTextInputElement:
    limit = field.max_length or TEXT_INPUT_LENGTH
    initial = cut(str(field.default), limit, "") if field.default not in (None, "") else None
    return PlainTextInputElement(
        action_id=VALUE_ACTION_ID,
        multiline=field.type == "long_text",
        max_length=field.max_length,
        initial_value=initial or None,
    )


def _number_element(field: InputField) -> NumberInputElement:
    integer = field.type == "integer"
    low, high = field.min_value, field.max_value
    if integer:
        low = math.ceil(low) if low is not None and math.isfinite(low) else None
        high = math.floor(high) if high is not None and math.isfinite(high) else None
    if low is not None and high is not None and low > high:
        # No number satisfies these bounds; let the core say so instead of Slack refusing the modal.
        low = high = None
    return NumberInputElement(
        action_id=VALUE_ACTION_ID,
        is_decimal_allowed=not integer,
        initial_value=_initial_number(field, low, high),
        min_value=_number_text(low),
        max_value=_number_text(high),
    )


def _initial_number(field: InputField, low: float | None, high: float | None) -> str | None:
    default = field.default
    if isinstance(default, bool) or not isinstance(default, int | float | str):
        return None
    try:
        number = float(default)
    except ValueError:
        return None
    if not math.isfinite(number) or (field.type == "integer" and not number.is_integer()):
        return None
    if (low is not None and number < low) or (high is not None and number > high):
        return None
    return _number_text(int(number) if field.type == "integer" else number)


def _number_text(number: float | None) -> str | None:
    if number is None or not math.isfinite(number):
        return None
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def _boolean_element(field: InputField) -> CheckboxesElement:
    yes = Option(value="0", text=PlainTextObject(text="Yes"))
    return CheckboxesElement(action_id=VALUE_ACTION_ID, options=[yes], initial_options=[yes] if field.default else None)


def _single_choice_element(field: InputField) -> InputInteractiveElement:
    labels = [_option_label(choice, i) for i, choice in enumerate(field.choices)]
    initial = [field.choices.index(field.default)] if field.default in field.choices else []
    return _choice_element(labels, multiple=False, radio_max=RADIO_MAX_OPTIONS, initial=initial)


def _multiple_choice_element(field: InputField) -> InputInteractiveElement:
    labels = [_option_label(choice, i) for i, choice in enumerate(field.choices)]
    default = field.default
    defaults = [default] if isinstance(default, str) else list(default) if isinstance(default, list | tuple) else []
    initial = sorted({field.choices.index(d) for d in defaults if isinstance(d, str) and d in field.choices})
    return _choice_element(labels, multiple=True, radio_max=CHOICE_LIST_OPTIONS, initial=initial)


def _date_element(field: InputField) -> DatePickerElement:
    return DatePickerElement(action_id=VALUE_ACTION_ID, initial_date=_initial_date(field.default))


def _initial_date(default: Any) -> str | None:
    if isinstance(default, dt.datetime):
        return default.date().isoformat()
    if isinstance(default, dt.date):
        return default.isoformat()
    if isinstance(default, str):
        try:
            return dt.date.fromisoformat(default).isoformat()
        except ValueError:
            return None
    return None


_FIELD_ELEMENTS: dict[str, Callable[[InputField], InputInteractiveElement]] = {
    "text": _text_element,
    "long_text": _text_element,
    "number": _number_element,
    "integer": _number_element,
    "boolean": _boolean_element,
    "single_choice": _single_choice_element,
    "multiple_choice": _multiple_choice_element,
    "date": _date_element,
}


def _choice_element(
    labels: Sequence[str], *, multiple: bool, radio_max: int, initial: Sequence[int] = ()
) -> InputInteractiveElement:
    """Radio buttons / checkboxes for a few options, a dropdown (grouped past 100) for more."""
    options = [Option(value=str(index), text=PlainTextObject(text=label)) for index, label in enumerate(labels)]
    chosen = [options[index] for index in initial]
    if len(options) <= radio_max:
        if multiple:
            return CheckboxesElement(action_id=VALUE_ACTION_ID, options=options, initial_options=chosen or None)
        return RadioButtonsElement(action_id=VALUE_ACTION_ID, options=options, initial_option=_first(chosen))
    groups = _option_groups(options)
    placeholder = PlainTextObject(text="Choose…")
    if multiple:
        return StaticMultiSelectElement(
            action_id=VALUE_ACTION_ID,
            placeholder=placeholder,
            options=None if groups else options,
            option_groups=groups,
            initial_options=chosen or None,
        )
    return StaticSelectElement(
        action_id=VALUE_ACTION_ID,
        placeholder=placeholder,
        options=None if groups else options,
        option_groups=groups,
        initial_option=_first(chosen),
    )


def _option_groups(options: list[Option]) -> list[OptionGroup] | None:
    if len(options) <= SELECT_OPTIONS:
        return None
    if len(options) > SELECT_OPTIONS * SELECT_OPTIONS:
        raise SlackLimitError(
            f"options per select <= {SELECT_OPTIONS * SELECT_OPTIONS}",
            "/view/blocks",
            f"{len(options)} options cannot be offered in one Slack select",
        )
    groups = []
    for start in range(0, len(options), SELECT_OPTIONS):
        chunk = options[start : start + SELECT_OPTIONS]
        groups.append(OptionGroup(label=f"{start + 1}-{start + len(chunk)}", options=chunk))
    return groups


def _first(options: list[Option]) -> Option | None:
    return options[0] if options else None


def _option_label(text: str, index: int) -> str:
    return plain_line(text, OPTION_TEXT) or f"Option {index + 1}"


# -- reading a submission -------------------------------------------------------------------------


def _element_states(state_values: Any) -> dict[str, dict[str, Any]]:
    """Each input block's one element state, keyed by block_id."""
    if not isinstance(state_values, dict):
        raise MalformedAction("view.state.values must be an object")
    states = {}
    for block_id, actions in state_values.items():
        if not isinstance(actions, dict) or len(actions) != 1:
            raise MalformedAction(f"input {block_id!r} must hold exactly one element's state")
        (state,) = actions.values()
        if not isinstance(state, dict):
            raise MalformedAction(f"the state of input {block_id!r} must be an object")
        states[block_id] = state
    return states


Reader = Callable[[dict[str, Any]], Any]


def _readers(requirement: Requirement) -> dict[str, Reader]:
    """How to read each input block any modal of this row can have."""
    readers: dict[str, Reader] = {}
    if requirement.kind == "confirmation":
        assert requirement.confirmation is not None  # a confirmation row always has its settings
        values = [c.value for c in requirement.confirmation.choices]
        readers[CHOICE] = _reader("many" if requirement.confirmation.multiple else "one", CHOICE, values)
        readers[REASON] = _reader("text", REASON)
    for field in requirement.fields:
        readers[field_block_id(field)] = _field_reader(field)
    for question in requirement.questions:
        if question.options:
            shape: Shape = "many" if question.multiple else "one"
            readers[question_block_id(question)] = _reader(shape, question.name, list(question.options))
        if question.allow_free_text:
            readers[question_text_block_id(question)] = _reader("text", question.name)
    if requirement.kind == "external_execution":
        readers[RESULT] = _reader("text", RESULT)
    return readers


def _field_reader(field: InputField) -> Reader:
    shape = _FIELD_SHAPES[field.type]
    if field.type == "boolean":
        read_options = _reader(shape, field.name, ["true"])
        return lambda state: bool(read_options(state))
    return _reader(shape, field.name, list(field.choices))


def _reader(shape: Shape, name: str, items: Sequence[str] = ()) -> Reader:
    def read(state: dict[str, Any]) -> Any:
        kind = state.get("type")
        if kind is not None and kind not in _SHAPE_TYPES[shape]:
            raise MalformedAction(f"input {name!r} cannot hold a {kind} element")
        if shape in ("text", "number"):
            return _optional_string(state, "value", name)
        if shape == "date":
            return _optional_string(state, "selected_date", name)
        if shape == "one":
            option = state.get("selected_option")
            return None if option is None else _option_item(option, items, name)
        selected = state.get("selected_options") or []
        if not isinstance(selected, list):
            raise MalformedAction(f"selected_options of input {name!r} must be a list")
        return [_option_item(option, items, name) for option in selected]

    return read


def _optional_string(state: dict[str, Any], key: str, name: str) -> str | None:
    value = state.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedAction(f"{key} of input {name!r} must be a string")
    return value


def _option_item(option: Any, items: Sequence[str], name: str) -> str:
    value = option.get("value") if isinstance(option, dict) else None
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or int(value) >= len(items):
        raise MalformedAction(f"input {name!r} has no option {value!r}")
    return items[int(value)]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _answers(questions: Sequence[Question], read: dict[str, Any]) -> dict[str, Any]:
    answers = {}
    for question in questions:
        options_block, text_block = question_block_id(question), question_text_block_id(question)
        if options_block not in read and text_block not in read:
            continue
        text = read.get(text_block)
        answers[question.name] = {"selected": _as_list(read.get(options_block)), "text": text}
    return answers


def _error_targets(requirement: Requirement) -> dict[str, str]:
    """The input block of each key the core reports errors under."""
    targets: dict[str, str] = {field.name: field_block_id(field) for field in requirement.fields}
    for question in requirement.questions:
        has_options = bool(question.options)
        targets[question.name] = question_block_id(question) if has_options else question_text_block_id(question)
    if requirement.kind == "confirmation":
        targets |= {CHOICE: CHOICE, REASON: REASON}
    if requirement.kind == "external_execution":
        targets[RESULT] = RESULT
    return targets
