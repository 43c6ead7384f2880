"""The usage guide agents read through memory_user_guide, as data.

Kept as one structure so the markdown and JSON forms can never disagree.
"""

from __future__ import annotations

from typing import Any

from memory import turns, validation

GUIDE: dict[str, Any] = {
    "title": "MemoryGate user guide",
    "purpose": (
        "MemoryGate is the user's long-term memory, shared by every AI that connects to it. "
        "Store what will still matter in a later conversation; search before asking the user to repeat themselves."
    ),
    "first_contact": [
        "memory_bootstrap(ai_name, ai_platform): learn whether you are new here and what memory holds.",
        "memory_init_session(conversation_id, title, ai_name, ai_platform): register this conversation.",
        "memory_search(query): look up what is already known about the topic at hand.",
    ],
    "tools": {
        "memory_brief": "What to know about the person right now, within max_tokens: their strongest patterns "
        "and facts, what changed since your last conversation, and with a topic what is most relevant to it.",
        "memory_store": "Store one observation (a fact, preference or event) with a confidence; occurred_at says "
        "when it happened; supersedes replaces an older observation; a restatement strengthens the existing one.",
        "memory_recall": "List current observations, newest first, filtered by domain, confidence, AI or period.",
        "memory_search": "Find memories of every type by meaning and keywords together (hybrid search).",
        "memory_get": "Read one memory in full by ref, e.g. 'observation:42'.",
        "memory_browse": "List memories newest first, 25 a page, or the best matches for a query, for the person "
        "to look through; hosts that render MCP Apps show MemoryGate's memory browser, where they edit, archive or "
        "forget what you remember.",
        "memory_delete": "Forget one memory by ref, including its vectors. Irreversible.",
        "memory_archive": "Move memories (by ref) to cold storage: kept, but out of search, recall and bootstrap; "
        "with a query instead, preview what would go.",
        "memory_rehydrate": "Bring archived memories back.",
        "memory_archive_candidates": "Current memories of every type that could be archived, stalest first.",
        "memory_stats": "Counts by type, domains, AI instances and embedding status.",
        "memory_store_document": "Keep a reference to a document: title, type, URL and your summary.",
        "memory_store_concept": "Create or update a named concept (project, tool, person, idea).",
        "memory_get_concept": "Read a concept by name or alias, with its relationships.",
        "memory_add_concept_alias": "Give a concept another name it can be found by.",
        "memory_add_concept_relationship": "Link two concepts (enables, version_of, part_of, related_to, "
        "implements, demonstrates) with a weight from 0 to 1.",
        "memory_related_concepts": "List the concepts linked to one concept.",
        "memory_update_pattern": "Create a pattern (a synthesis of several observations); a new text for an "
        "existing name makes a new version and keeps the old one.",
        "memory_get_pattern": "Read one pattern by category and name.",
        "memory_patterns": "List patterns, strongest first.",
        "memory_init_session": "Register or update the current conversation.",
        "memory_append_turns": "Keep a conversation's new turns (speaker, text, time) as searchable memory; a "
        "turn's id makes sending it again a no-op; <private>…</private> text is never stored.",
        "memory_conversation": "Read a kept conversation's turns in order, a page at a time.",
        "memory_forget_conversation": "Forget a kept conversation and every turn in it. Irreversible.",
        "memory_bootstrap": "First-contact summary for an AI instance.",
        "memory_user_guide": "This guide.",
        "search": "Up to 10 memories for a query, each with an id for fetch (the shape ChatGPT's deep research "
        "and connectors call; memory_search has filters).",
        "fetch": "One memory in full by an id from search.",
    },
    "domains": {
        "preferences": "How the user likes things done.",
        "personal": "Facts about the user's life, only what they chose to share.",
        "projects": "Work in progress, decisions and their reasons.",
        "technical": "Environment, tools, versions, configurations.",
        "people": "People the user mentions and how they relate to them.",
        "(your own)": "Any short lowercase name; reuse existing domains (see memory_stats).",
    },
    "confidence_scale": {
        "0.95-1.0": "Stated directly by the user, or verified.",
        "0.8-0.94": "Strongly implied, or stated once.",
        "0.5-0.79": "Inferred from behaviour; may be wrong.",
        "below 0.5": "A guess worth keeping only to check later.",
    },
    "workflows": {
        "start of a conversation": "memory_brief (with the topic, if known) for what to know now within a token "
        "budget, then memory_init_session; memory_search when a new topic comes up. Hosts that show MCP resources "
        "or prompts offer the same brief as the resource memorygate://brief (memorygate://brief/{topic}) and the "
        "prompt 'brief'.",
        "the person wants to see or correct what you remember": "memory_browse: in hosts that render MCP Apps it "
        "opens the memory browser beside the conversation (search, edit as a new version, archive, forget); "
        "elsewhere show the list it answers.",
        "learning something durable": "memory_store with a domain and honest confidence; cite evidence.",
        "the person keeps spaces (work, personal, a project)": "memory_bootstrap lists the spaces this credential "
        "reaches; writes go to the default one unless you pass space='<name>', a memory named by ref is acted on "
        "in its own space, and search, recall and the brief cover every space (each hit names its space) unless "
        "you pass one. Store work facts in the work space when the person keeps one. Concepts, patterns, "
        "conversations and duplicates are per space.",
        "seeing a repeated theme": "memory_update_pattern citing the observation ids as evidence; when the "
        "theme changes, call it again with the new text: the earlier version is kept (memory_get_pattern shows "
        "the chain).",
        "a fact changed (moved, new job, changed mind)": "memory_store the new fact with supersedes='observation:N' "
        "of the old one: the old version is kept (memory_get shows the chain) but leaves search and recall; "
        "include_history=true brings it back.",
        "memory_store answered possible_conflicts": "a current observation about the same subject may be what the "
        "new one replaces (Ann lives in Porto, stored as Ann moved to Lisbon): nothing was changed. If it is replaced "
        "(ask the person when unsure), call memory_store again with the same observation and supersedes=its ref; the "
        "one just stored becomes its replacement, with no second copy.",
        "storing something already known": "Just store it: a current observation with the same words (case, "
        "punctuation and small words aside) is strengthened instead (seen_count, higher confidence, evidence "
        "merged; the answer says duplicate_of). Contradictions are never merged; allow_duplicate=true forces a row.",
        "something that happened at a time": "memory_store with occurred_at (a date or ISO date-time); find it with "
        "memory_search or memory_recall and since/until, time_field='occurred'; favour what is recent with "
        "memory_search(recency_half_life_days=N).",
        "memory grows cluttered": "memory_archive_candidates, or memory_archive(query=...) to preview; then "
        "memory_archive(refs=[...]). Archived memories are searchable with memory_search(archived='only') and "
        "come back with memory_rehydrate. The user may also set a retention policy for each space on their account "
        "page, which archives memories unused for N days. Nothing is deleted except by memory_delete.",
        "the user wants their memory elsewhere": "Their account page exports everything as one JSON Lines file and "
        "imports one (a MemoryGate export, or the MCP reference memory server's memory.jsonl) after a preview; "
        "no tool does this, since it is the person's decision.",
        "the user asks to forget": "memory_search or memory_recall to find it, then memory_delete each ref; "
        "memory_forget_conversation forgets a kept conversation whole.",
        "keeping the conversation itself": "Hooks and apps append each turn with memory_append_turns (or POST "
        "/api/v1/conversations/{id}/turns); memory_search finds turns like any memory, memory_get on a turn shows "
        "the turns around it. Wrap what must not be kept in <private>…</private>; the person can turn capture off "
        "on their account page.",
    },
    "limits": {
        "observation_chars": validation.MAX_OBSERVATION_CHARS,
        "pattern_text_chars": validation.MAX_PATTERN_TEXT_CHARS,
        "description_chars": validation.MAX_DESCRIPTION_CHARS,
        "document_summary_chars": validation.MAX_DOCUMENT_SUMMARY_CHARS,
        "query_chars": validation.MAX_QUERY_CHARS,
        "turn_chars": turns.MAX_TURN_CHARS,
        "turns_per_append": turns.MAX_TURNS_PER_APPEND,
        "results_per_call": validation.MAX_LIMIT,
    },
    "privacy": "Memories belong to the signed-in user alone; no tool can read another user's memories.",
}


def as_markdown() -> str:
    lines = [f"# {GUIDE['title']}", "", GUIDE["purpose"], "", "## First contact"]
    lines += [f"1. {step}" for step in GUIDE["first_contact"]]
    for heading, key in (
        ("Tools", "tools"),
        ("Domains", "domains"),
        ("Confidence scale", "confidence_scale"),
        ("Workflows", "workflows"),
        ("Limits", "limits"),
    ):
        lines += ["", f"## {heading}"]
        lines += [f"- **{name}**: {text}" for name, text in GUIDE[key].items()]
    lines += ["", "## Privacy", GUIDE["privacy"]]
    return "\n".join(lines)
