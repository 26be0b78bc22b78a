"""A senior agent's account puts them in the senior queue when their desk opens (real Redis ACD,
real SQLite and PostgreSQL accounts), as `queue.senior_agents` does for a name in the settings."""

from __future__ import annotations

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.store import AccountStore
from call_queue.acd import AcdStore
from hotline.desk_backend import AcdDeskBackend
from kernel.roles import Role
from telephony.softphone import SoftphonePasswords, SoftphoneProvisioner


async def test_a_senior_agents_desk_takes_the_senior_queue(engine: AsyncEngine, redis_client: aioredis.Redis,
                                                           redis_key_prefix: str) -> None:
    accounts = AccountStore(engine)
    for username, role in (("li", Role.SENIOR_AGENT), ("wang", Role.AGENT), ("zhao", Role.SENIOR_AGENT)):
        await accounts.add(username, username, role, None, "$argon2id$not-used-here")
    await accounts.set_active("zhao", False)
    desk = AcdDeskBackend(AcdStore(redis_client, redis_key_prefix),
                          SoftphoneProvisioner("http://127.0.0.1:1", "u", "p"), None, engine,
                          passwords=SoftphonePasswords(redis_client, redis_key_prefix),
                          senior_agents=frozenset({"from-settings"}),
                          is_senior=accounts.is_senior_agent)
    skills = {agent: (await desk.sign_in(agent))["skills"]
              for agent in ("li", "wang", "zhao", "from-settings", "no-account")}
    assert skills == {"li": ["general", "senior"], "wang": ["general"], "zhao": ["general"],
                      "from-settings": ["general", "senior"], "no-account": ["general"]}
