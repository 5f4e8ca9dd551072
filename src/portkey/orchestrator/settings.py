"""portkey.yaml's ``data:`` section: the engines the orchestrator can query."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from portkey.config.routing import Strict
from portkey.orchestrator.sync.models import SyncJob, check_syncs


class _Engine(Strict):
    #: only these schemas are introspected (default: every non-system schema)
    schemas: list[str] | None = None
    #: seconds one subquery may run on this engine
    statement_timeout_s: float = Field(default=300.0, gt=0)
    #: the role may create temporary tables: join keys too many for an IN-list are then
    #: shipped into one (our only write; user SQL stays read-only). PostgreSQL, MySQL/MariaDB
    #: and DuckDB use it; other engines ignore it
    temp_tables: bool = False


class DuckDBEngine(_Engine):
    type: Literal["duckdb"]
    path: str = ":memory:"


class SQLiteEngine(_Engine):
    type: Literal["sqlite"]
    path: str


class PostgresEngine(_Engine):
    type: Literal["postgres"]
    #: libpq connection string or URL, e.g. ``postgresql://ro@db:5432/sales``
    dsn: str = Field(repr=False)
    #: optional read-only role switched to (``SET ROLE``) for every query
    role: str | None = None


class MySQLEngine(_Engine):
    type: Literal["mysql"]
    host: str = "127.0.0.1"
    port: int = Field(default=3306, ge=1, le=65535)
    user: str = "root"
    password: str = Field(default="", repr=False)
    database: str | None = None
    #: syncs into this engine write with ``LOAD DATA LOCAL INFILE`` (the server may only read
    #: the batch file being loaded); ``false`` never offers a local file and writes with INSERTs
    local_infile: bool = True


class ChDBEngine(_Engine):
    """ClickHouse embedded (chdb): a local ClickHouse data directory, queried in-process."""

    type: Literal["chdb"]
    path: str


class ClickHouseEngine(_Engine):
    """A ClickHouse server over its HTTP interface (``clickhouse-connect``);
    ``engine.schema.table`` reads ClickHouse's ``database.table``."""

    type: Literal["clickhouse"]
    host: str = "127.0.0.1"
    #: the HTTP interface (8123; 8443 with TLS)
    port: int = Field(default=8123, ge=1, le=65535)
    username: str = "default"
    password: str = Field(default="", repr=False)
    #: the database unqualified names resolve in (the server's default when absent)
    database: str | None = None
    #: HTTPS instead of HTTP
    secure: bool = False
    #: seconds to wait for a connection before the engine counts as unreachable
    connect_timeout_s: int = Field(default=10, ge=1)


class TrinoEngine(_Engine):
    type: Literal["trino"]
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    user: str = "portkey"
    #: the Trino catalog this engine reads (``engine.schema.table`` = ``catalog.schema.table``)
    catalog: str
    http_scheme: Literal["http", "https"] = "http"
    password: str | None = Field(default=None, repr=False)
    #: optional role set for the session (``SET ROLE``), e.g. a read-only one
    role: str | None = None
    #: the cluster's ``query.max-length``: syncs into Trino keep each INSERT under it
    max_statement_chars: int = Field(default=1_000_000, ge=10_000)


class SnowflakeEngine(_Engine):
    """Snowflake through the official connector; ``engine.schema.table`` reads ``database``."""

    type: Literal["snowflake"]
    #: the account identifier (``orgname-account``), as in the Snowflake URL
    account: str = Field(min_length=1)
    user: str = Field(min_length=1)
    password: str | None = Field(default=None, repr=False)
    #: key-pair authentication (a PEM file), instead of a password
    private_key_file: str | None = None
    private_key_file_pwd: str | None = Field(default=None, repr=False)
    #: e.g. ``externalbrowser`` or ``oauth``; the connector's default (password) when absent
    authenticator: str | None = None
    database: str = Field(min_length=1)
    warehouse: str | None = None
    #: the role the session uses; give it read-only grants (Snowflake has no read-only session)
    role: str | None = None
    #: the session's current schema (unqualified names in a sync's source SQL)
    default_schema: str | None = None
    #: where the service is, when it is not ``<account>.snowflakecomputing.com`` (PrivateLink,
    #: a proxy or a local stand-in)
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    protocol: Literal["https", "http"] = "https"
    #: seconds a login or one network request may take before it fails (not retried past it)
    network_timeout_s: int = Field(default=60, ge=1)


class FewShot(Strict):
    """One example for the model: a question and the answer JSON it should give."""

    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)


class LLMSettings(Strict):
    """``data.llm``: questions in natural language, answered through our own gateway."""

    #: the id of a config under ``configs:`` (routing, retries, fallbacks, cache, budgets)
    config: str = Field(min_length=1)
    model: str = Field(min_length=1)
    #: a gateway API key (``pk-...``, e.g. ``${PORTKEY_NL_KEY}``) when keys are required: its
    #: scopes, rate limits and budgets then govern what the orchestrator spends
    api_key: str | None = Field(default=None, repr=False)
    #: answers the model may give after its first was rejected (with the reasons)
    max_retries: int = Field(default=2, ge=0, le=10)
    #: ``sql``: one federated query; ``plan``: per-engine subqueries plus a combine step
    form: Literal["sql", "plan"] = "sql"
    few_shot: list[FewShot] = Field(default_factory=list)
    #: tables at most in the schema digest of a prompt (the most relevant ones)
    digest_tables: int = Field(default=12, ge=1, le=200)
    temperature: float = Field(default=0.0, ge=0, le=2)


_COLUMN_PATH = re.compile(r"[^.\s]+\.[^.\s]+\.[^.\s]+\.[^.\s]+")


class ForeignKey(Strict):
    """``data.foreign_keys``: every row of ``from``'s table matches exactly one row of
    ``to``'s (a NOT NULL foreign key into a unique key), even across engines.

    No engine can check a key that spans engines: the planner trusts it (as Snowflake trusts
    a ``RELY`` constraint) to push a top-N through the join; a false one gives wrong answers.
    Columns are ``engine.schema.table.column``; a list for a composite key.
    """

    model_config = {**Strict.model_config, "populate_by_name": True}

    from_: list[str] = Field(alias="from", min_length=1)
    to: list[str] = Field(min_length=1)

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("from_", "to")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not _COLUMN_PATH.fullmatch(path):
                raise ValueError(f"{path!r}: name a column as engine.schema.table.column")
        if len({p.rsplit(".", 1)[0] for p in value}) != 1:
            raise ValueError("the columns of one key belong to one table")
        return [p.lower() for p in value]

    @model_validator(mode="after")
    def _pairs(self) -> ForeignKey:
        if len(self.from_) != len(self.to):
            raise ValueError(f"from has {len(self.from_)} columns and to has {len(self.to)}")
        return self

    def tables(self) -> tuple[str, str]:
        """The qualified tables of ``from`` and ``to``."""
        return self.from_[0].rsplit(".", 1)[0], self.to[0].rsplit(".", 1)[0]


EngineSettings = Annotated[
    DuckDBEngine
    | SQLiteEngine
    | PostgresEngine
    | MySQLEngine
    | TrinoEngine
    | ChDBEngine
    | ClickHouseEngine
    | SnowflakeEngine,
    Field(discriminator="type"),
]


class DataSettings(Strict):
    engines: dict[str, EngineSettings] = Field(default_factory=dict)
    #: rows a query answers at most (a request's ``limit`` may lower it)
    max_rows: int = Field(default=100_000, ge=1)
    #: seconds a whole query may take (a request's ``timeout_s`` may lower it)
    timeout_s: float = Field(default=300.0, gt=0)
    #: semi-join reduction ships at most this many distinct keys as an IN-list
    semijoin_max_keys: int = Field(default=20_000, ge=0)
    #: memory of the local join/aggregate step (DuckDB); past it, intermediates spill to disk
    local_memory_limit: str = Field(default="4GB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")

    @field_validator("engines")
    @classmethod
    def _names(cls, engines: dict[str, EngineSettings]) -> dict[str, EngineSettings]:
        for name in engines:
            if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
                raise ValueError(
                    f"engine name {name!r}: use lowercase letters, digits and _ (it is the "
                    "first part of engine.schema.table)"
                )
        return engines

    #: keys the planner may rely on across engines (``ForeignKey``)
    foreign_keys: list[ForeignKey] = Field(default_factory=list)

    #: natural-language questions (``POST /query {question}``); off when absent
    llm: LLMSettings | None = None

    #: declarative sync jobs between engines (``portkey sync run NAME``, or on a schedule)
    syncs: dict[str, SyncJob] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _syncs(self) -> DataSettings:
        check_syncs(set(self.engines), self.syncs)
        for i, key in enumerate(self.foreign_keys):
            for side, table in zip(("from", "to"), key.tables(), strict=True):
                engine = table.split(".", 1)[0]
                if engine not in self.engines:
                    raise ValueError(
                        f"foreign_keys[{i}].{side}: no engine {engine!r} under data.engines"
                    )
        return self
