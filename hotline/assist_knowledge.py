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

#: Search hits the assist weighs (`asr.assist.choose_answers` keeps those the words name), and
#: the database's best matches ranked for them: a caller's words share characters with most
#: articles, and ranking all of them costs ~7x the CPU on a 160-article base (measured).
HITS = 10
RANKED = 30


def knowledge_lookup(store: KnowledgeStore, hits: int = HITS, ranked: int = RANKED) -> KnowledgeLookup:
    async def lookup(query: str, district: str | None) -> list[KnowledgeCandidate]:
        found = await store.search(query, district=district, in_force_on=store.today(), limit=hits,
                                   candidates=ranked)
        return [KnowledgeCandidate(h.article.id, h.article.title, h.article.content.approved_wording or "",
                                   h.article.version, h.article.owner_unit, h.article.content.keywords)
                for h in found]

    return lookup
