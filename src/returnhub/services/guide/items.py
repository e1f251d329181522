"""Reading an answer to "which item(s)?": by number as listed, by name (typos tolerated),
"all"/"both", several at once, or all but some ("all except the tee")."""

from __future__ import annotations

import difflib
import re

from returnhub.services.guide.returns import ItemChoice, words_of
from returnhub.services.guide.turn import Turn
from returnhub.services.guide.vocabulary import ALL_ITEMS, EXCEPT, ITEM_STOPWORDS, ORDINALS


def listed_choices(turn: Turn, lines: list[ItemChoice]) -> list[ItemChoice]:
    """The lines offered by the last "which item?", in the order they were listed."""
    question = turn.state.item_question
    by_id = {c.line.public_id: c for c in lines}
    return [by_id[i] for i in (question.choices if question else []) if i in by_id]


def chosen_items(turn: Turn, lines: list[ItemChoice]) -> list[ItemChoice] | None:
    """The lines the answer picks; None when nothing in it points at a line."""
    listed = listed_choices(turn, lines)
    text = turn.text.lower()
    split = EXCEPT.search(text)
    head = text[: split.start()] if split else text
    excluded_text = text[split.end() :] if split else ""
    picked: list[ItemChoice] = []
    how: list[str] = []
    if ALL_ITEMS.search(head):
        picked, how = list(listed or lines), ["all"]
    for number in _numbers(head, len(listed)):
        if listed[number] not in picked:
            picked.append(listed[number])
            how.append(f"number {number + 1}")
    for choice, matched in _named(head, lines):
        if choice not in picked:
            picked.append(choice)
            how.append(f"name {matched!r}")
    excluded = [c for c, _ in _named(excluded_text, lines)] + [
        listed[n] for n in _numbers(excluded_text, len(listed))
    ]
    if excluded:
        picked = [c for c in picked if c not in excluded]
        how.append("except " + ", ".join(c.name for c in excluded))
    turn.step("items_chosen", answer=turn.text[:200], how=how, items=[c.name for c in picked])
    if not picked:
        return None
    turn.facts["items"] = [c.name for c in picked]
    return picked


def _numbers(text: str, count: int) -> list[int]:
    """Zero-based positions named by digits or ordinals, within the listed count."""
    found: list[int] = []
    for token in re.findall(r"[a-z]+|\d+", text):
        if token.isdigit() and len(token) <= 2:
            position = int(token) - 1
        elif token in ORDINALS:
            position = ORDINALS[token] - 1 if ORDINALS[token] > 0 else count - 1
        else:
            continue
        if 0 <= position < count and position not in found:
            found.append(position)
    return found


def _named(text: str, lines: list[ItemChoice]) -> list[tuple[ItemChoice, str]]:
    """Lines whose title or variant words the text names, typos tolerated; when one line matches
    more words than another that shares a word ("rain jacket" against "denim jacket"), the
    better match wins."""
    tokens = [t.rstrip("s") for t in re.findall(r"[a-z]+", text) if len(t) > 2]
    tokens = [t for t in tokens if t not in ITEM_STOPWORDS]
    scored: list[tuple[int, ItemChoice, str]] = []
    for choice in lines:
        vocabulary = words_of(f"{choice.line.title} {choice.line.variant or ''}", 3)
        hits = [
            t
            for t in tokens
            if t in vocabulary or difflib.get_close_matches(t, vocabulary, n=1, cutoff=0.8)
        ]
        if hits:
            scored.append((len(hits), choice, " ".join(hits)))
    if not scored:
        return []
    # A word shared by several lines only counts where nothing names a line more precisely.
    best: dict[str, int] = {}
    for score, _, matched in scored:
        for word in matched.split():
            best[word] = max(best.get(word, 0), score)
    return [
        (choice, matched)
        for score, choice, matched in scored
        if any(best[w] == score for w in matched.split())
    ]
