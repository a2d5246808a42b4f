"""Conversations in Redis, shared by every server process and replica that points at it.

Keys, under a prefix (``trioagent:`` by default)::

    conv:{id}   the session as JSON (`codec`), expiring after the idle TTL
    lock:{id}   the running turn's lock: a random token, expiring after ``lock_ttl``
    index       a sorted set of ids by last use (ms): the LRU bound and the count

A turn takes ``lock:{id}`` with ``SET NX PX`` (or raises `ConversationBusy`) and reads the
conversation in the same script. It commits through a script that writes only while the
lock still holds the turn's token: a replica that stalled past its lock can never
overwrite a newer turn. At the end it frees the lock if the lock is still its own; a
replica that dies mid-turn leaves a lock that frees itself on expiry.

Every command runs under its own deadline (``op_timeout``); a Redis that is down, slow or
failing raises `StoreUnavailable` (503). Only non-blocking commands are used: coredis 6.9
leaks a pool slot when a *blocking* command is cancelled.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import attrs
import coredis
import coredis.exceptions
import trio

from ..errors import ConversationBusy, ConversationConflict, StoreUnavailable, sole_exception
from ..runtime.session import Session
from .base import Turn
from .codec import dumps_session, loads_session

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable

logger = logging.getLogger(__name__)

# KEYS: lock, conv, index. ARGV: token, lock ms, ttl ms, id.
# Returns 0 when the lock is taken, else {found, data}.
_BEGIN: Final = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local data = redis.call('GET', KEYS[2])
if not data then return {0, ''} end
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
local now = redis.call('TIME')
redis.call('ZADD', KEYS[3], now[1] * 1000 + math.floor(now[2] / 1000), ARGV[4])
return {1, data}
"""

# KEYS: lock, conv, index. ARGV: token, data, ttl ms, max items, id, conv key prefix.
# Returns 0 when the lock is no longer this turn's, else 1.
_COMMIT: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
else
  redis.call('SET', KEYS[2], ARGV[2])
end
local time = redis.call('TIME')
local now = time[1] * 1000 + math.floor(time[2] / 1000)
redis.call('ZADD', KEYS[3], now, ARGV[5])
if ttl > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - ttl) end
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
if tonumber(ARGV[4]) > 0 and excess > 0 then
  local victims = redis.call('ZRANGE', KEYS[3], 0, excess - 1)
  for _, victim in ipairs(victims) do
    if victim ~= ARGV[5] then
      redis.call('ZREM', KEYS[3], victim)
      redis.call('DEL', ARGV[6] .. victim)
    end
  end
end
return 1
"""

# KEYS: lock. ARGV: token. Frees the lock only if it is still this turn's.
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: index. ARGV: ttl ms. Forgets expired ids, then counts.
_COUNT: Final = """
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  local time = redis.call('TIME')
  local now = time[1] * 1000 + math.floor(time[2] / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
end
return redis.call('ZCARD', KEYS[1])
"""


@attrs.define(kw_only=True)
class RedisStore:
    """Conversations in Redis; build it with `open_redis_store`.

    ``is_busy`` sees only this process's turns, ``is_taken`` those of every replica.
    """

    _client: coredis.Redis[bytes]
    where: str
    """The server, as ``host:port/db`` (never the password), for messages."""
    max_items: int
    """Conversations kept; the least recently used go first. 0: no bound."""
    ttl: float
    """Seconds a conversation is kept idle. 0: forever."""
    lock_ttl: float
    """Seconds a turn's lock lives: longer than a turn may take."""
    op_timeout: float = 5.0
    """Seconds one Redis command may take before the store counts as unavailable."""
    prefix: str = "trioagent:"
    _busy: set[str] = attrs.field(factory=set, init=False)

    def is_busy(self, conversation_id: str) -> bool:
        return conversation_id in self._busy

    async def is_taken(self, conversation_id: str) -> bool:
        """Whether a turn here or on another replica holds the lock.

        Raises:
            StoreUnavailable: Redis cannot be reached.
        """
        if conversation_id in self._busy:
            return True
        return bool(await self._call(self._client.exists([self._lock(conversation_id)])))

    async def get(self, conversation_id: str) -> Session | None:
        """A new copy of the stored conversation, or None.

        Raises:
            StoreUnavailable: Redis cannot be reached, or the stored session is damaged.
        """
        data = await self._call(self._client.get(self._conv(conversation_id)))
        return None if data is None else loads_session(data.decode())

    async def delete(self, conversation_id: str) -> bool:
        """Forget a conversation; True when it existed.

        Raises:
            StoreUnavailable: Redis cannot be reached.
        """
        removed = await self._call(self._client.delete([self._conv(conversation_id)]))
        await self._call(self._client.zrem(self._index, [conversation_id]))
        return int(removed) > 0

    async def count(self) -> int:
        """How many conversations Redis holds for this prefix.

        Raises:
            StoreUnavailable: Redis cannot be reached.
        """
        count = await self._script(_COUNT, [self._index], [self._ms(self.ttl)])
        return int(count)

    async def check(self) -> None:
        """Return when Redis answers.

        Raises:
            StoreUnavailable: Redis cannot be reached.
        """
        await self._call(self._client.ping())

    @asynccontextmanager
    async def turn(self, conversation_id: str) -> AsyncIterator[Turn]:
        """Take the conversation's lock and load it; store it at the end if the turn commits.

        Raises:
            ConversationBusy: a turn on this id is running here or on another replica.
            ConversationConflict: this turn's lock expired, and the commit was refused.
            StoreUnavailable: Redis cannot be reached, or the stored session is damaged.
        """
        if conversation_id in self._busy:
            raise ConversationBusy(conversation_id)
        self._busy.add(conversation_id)
        token = secrets.token_hex(16)
        lock = self._lock(conversation_id)
        keys = [lock, self._conv(conversation_id), self._index]
        taken = False
        try:
            try:
                found = await self._script(
                    _BEGIN,
                    keys,
                    [
                        token,
                        self._ms(self.lock_ttl),
                        self._ms(self.ttl),
                        conversation_id,
                    ],
                )
            except trio.Cancelled:
                # Redis may have run the script, and so taken the lock, before the answer
                # was lost (a client that hung up): free it, or it would hold for lock_ttl.
                await self._release(lock, token)
                raise
            if found == 0:
                raise ConversationBusy(conversation_id)
            taken = True
            existed, data = found
            session = loads_session(data.decode()) if existed else Session()
            turn = Turn(conversation_id, session, existed=bool(existed))
            yield turn
            if turn.committed:
                written = await self._script(
                    _COMMIT,
                    keys,
                    [
                        token,
                        dumps_session(turn.session),
                        self._ms(self.ttl),
                        self.max_items,
                        conversation_id,
                        self._conv(""),
                    ],
                )
                if written == 0:
                    logger.warning(
                        "conversation %r: the turn outlived its lock (%g s); not saved",
                        conversation_id,
                        self.lock_ttl,
                    )
                    raise ConversationConflict(conversation_id)
        finally:
            self._busy.discard(conversation_id)
            if taken:
                await self._release(lock, token)

    async def _release(self, lock: str, token: str) -> None:
        # Even when cancelled; a lock left behind (Redis gone) frees itself on expiry.
        with trio.CancelScope(shield=True):
            try:
                await self._script(_RELEASE, [lock], [token])
            except StoreUnavailable as exc:
                logger.warning("could not free a conversation lock (it expires by itself): %s", exc)

    @property
    def _index(self) -> str:
        return f"{self.prefix}index"

    def _conv(self, conversation_id: str) -> str:
        return f"{self.prefix}conv:{conversation_id}"

    def _lock(self, conversation_id: str) -> str:
        return f"{self.prefix}lock:{conversation_id}"

    @staticmethod
    def _ms(seconds: float) -> int:
        return max(0, round(seconds * 1000))

    async def _script(self, lua: str, keys: list[str], args: list[Any]) -> Any:
        return await self._call(self._client.eval(lua, keys, args))

    async def _call(self, command: Awaitable[Any]) -> Any:
        """Await one Redis command under ``op_timeout``; map its failures to StoreUnavailable."""
        try:
            with trio.fail_after(self.op_timeout):
                return await command
        except trio.TooSlowError as exc:
            raise self._unavailable(f"no answer within {self.op_timeout:g} s") from exc
        except (coredis.exceptions.RedisError, OSError) as exc:
            raise self._unavailable(str(exc) or type(exc).__name__) from exc

    def _unavailable(self, reason: str) -> StoreUnavailable:
        return StoreUnavailable(
            f"the conversation store (Redis at {self.where}) is unavailable: {reason}"
        )


@asynccontextmanager
async def open_redis_store(
    url: str,
    *,
    max_items: int,
    ttl: float,
    lock_ttl: float,
    op_timeout: float = 5.0,
    prefix: str = "trioagent:",
) -> AsyncIterator[RedisStore]:
    """Connect to Redis at ``url`` (``redis://[:password@]host:port/db``), check it answers.

    Raises:
        StoreUnavailable: Redis cannot be reached, or refuses the credentials.
    """
    client: coredis.Redis[bytes] = coredis.Redis.from_url(
        url,
        connect_timeout=op_timeout,
        stream_timeout=op_timeout,
    )
    location = client.connection_pool.location
    db = client.connection_pool.connection_kwargs.get("db") or 0
    where = f"{getattr(location, 'host', location)}:{getattr(location, 'port', '')}/{db}"
    try:
        async with client:  # coredis runs its connections in a task group of its own
            store = RedisStore(
                client=client,
                where=where,
                max_items=max_items,
                ttl=ttl,
                lock_ttl=lock_ttl,
                op_timeout=op_timeout,
                prefix=prefix,
            )
            try:
                await store.check()
            except StoreUnavailable as exc:
                raise StoreUnavailable(
                    f"{exc}; start Redis or fix --store (e.g. redis://127.0.0.1:6379/0)"
                ) from exc
            yield store
    except BaseExceptionGroup as group:  # that task group wraps what leaves it
        if (sole := sole_exception(group)) is not None:
            raise sole from None
        raise
