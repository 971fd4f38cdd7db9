"""Consumer-group lag read from the broker: committed offsets against log ends, in messages and in
time (how old the oldest unprocessed event is)."""

import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.ops.lag_status import LagStatus, PartitionHistory, Sample, worst

GROUP_PREFIX = "hps-"  # the platform's own consumer groups


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int
    oldest_unprocessed_age_s: float | None
    status: LagStatus

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


class LagReader:
    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.history: dict[tuple[str, str, int], PartitionHistory] = {}

    async def start(self) -> None:
        self.admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await self.admin.start()
        self.probe = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        await self.probe.start()

    async def stop(self) -> None:
        await self.probe.stop()
        await self.admin.close()

    async def read(self) -> list[PartitionLag]:
        groups = sorted(g for g, _ in await self.admin.list_consumer_groups()
                        if g.startswith(GROUP_PREFIX))
        committed: dict[tuple[str, TopicPartition], int] = {}
        for group in groups:
            for tp, meta in (await self.admin.list_consumer_group_offsets(group)).items():
                if meta.offset >= 0:
                    committed[(group, tp)] = meta.offset
        partitions = sorted({tp for _, tp in committed})
        ends = await self.probe.end_offsets(partitions) if partitions else {}
        now = time.time()
        lags = []
        for (group, tp), offset in sorted(committed.items()):
            history = self.history.setdefault((group, tp.topic, tp.partition), PartitionHistory())
            history.add(Sample(now, offset, ends[tp]))
            age = await self._age(tp, offset, now) if ends[tp] > offset else None
            lags.append(PartitionLag(group, tp.topic, tp.partition, offset, ends[tp], age, history.status()))
        return lags

    async def _age(self, tp: TopicPartition, offset: int, now: float) -> float | None:
        """How long the first unprocessed message has waited: now minus its timestamp."""
        self.probe.assign([tp])
        self.probe.seek(tp, offset)
        records = (await self.probe.getmany(tp, timeout_ms=1000, max_records=1)).get(tp, [])
        return round(now - records[0].timestamp / 1000, 1) if records else None


def by_group(lags: list[PartitionLag]) -> list[dict]:
    """One line per group: total lag, oldest unprocessed event, the worst partition status."""
    groups: dict[str, list[PartitionLag]] = {}
    for lag in lags:
        groups.setdefault(lag.group, []).append(lag)
    return [{"group": group, "lag": sum(p.lag for p in parts),
             "oldest_unprocessed_age_s": max((p.oldest_unprocessed_age_s or 0 for p in parts), default=0),
             "status": worst([p.status for p in parts]).value,
             "partitions": [{"topic": p.topic, "partition": p.partition, "committed": p.committed, "end": p.end,
                             "lag": p.lag, "oldest_unprocessed_age_s": p.oldest_unprocessed_age_s,
                             "status": p.status.value} for p in parts]}
            for group, parts in sorted(groups.items())]
