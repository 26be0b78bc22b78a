"""The live assist's knowledge search (`asr.live_assist.KnowledgeLookup`), over the knowledge base.

Transcription reads the caller's words; the knowledge base holds the approved wording (答复口径).
Neither knows the other, so this adapter joins them: the assist asks with the caller's words
and the district heard, and gets what an agent's own search would give (published articles in
force today, for that district or the whole city), as plain values of `asr.assist`.
"""

from __future__ import annotations

from asr.assist import KnowledgeCandidate
from asr.live_assist import KnowledgeLookup
from knowledge.store import KnowledgeStore

#: Search candidates the assist weighs (`asr.assist.choose_answers` keeps those the words name).
CANDIDATES = 10


def knowledge_lookup(store: KnowledgeStore, candidates: int = CANDIDATES) -> KnowledgeLookup:
    async def lookup(query: str, district: str | None) -> list[KnowledgeCandidate]:
        hits = await store.search(query, district=district, in_force_on=store.today(), limit=candidates)
        return [KnowledgeCandidate(h.article.id, h.article.title, h.article.content.approved_wording or "",
                                   h.article.version, h.article.owner_unit, h.article.content.keywords)
                for h in hits]

    return lookup
