"""The leader's scheduler: a pure state machine (no I/O, no clock) that leases runs of
consecutive segments to nodes, steals work for idle nodes, backs up stragglers at the end,
and keeps the accounting for the job report.

    from e2a_node.scheduler import Scheduler, SchedulerConfig, NodeJoined, Tick
    sched = Scheduler([len(s.text) for s in segments], SchedulerConfig(), done=stored)
    for instruction in sched.handle(NodeJoined("local", slots=2, speed=150.0), now):
        ...  # the driver carries it out

Modules: events (in), instructions (out), config, policy (what both policies share: the
event loop, nodes, lease lifetimes, who may deliver a segment), state (the Scheduler),
workqueue (the queue of unassigned segments), sizing (run size, speed estimates), stealing
(split point, steal and backup rules), verification (which segments peer verification
re-makes), stats (report dataclasses), simulate (a discrete-event simulator), chapter_policy
(the benchmark baseline), history (a checked policy's recent events and a segment's story),
trace (recording and replaying what a scheduler was told and said).

Layering: the standard library only, and none of its I/O (no asyncio, threading, time, os,
socket, random): time comes in with each event (tests/test_layering.py, test_scheduler_basics).
"""

from .config import SchedulerConfig
from .events import (AudioInvalid, AudioReceived, Compared, Event, Heartbeat, NodeJoined,
                     NodeLeft, NodeRefused, RevokeAck, SegmentFailed, StealReply, Tick)
from .history import checks_from_env
from .instructions import (Accept, Assign, Compare, Discard, Drop, GiveUp, Instruction, JobDone,
                           RemoveNode, RequestSteal, Revoke)
from .state import Scheduler
from .stats import Disagreement, JobStats, NodeStats, Progress, Recovery

__all__ = [
    "Scheduler", "SchedulerConfig", "checks_from_env",
    "Event", "NodeJoined", "NodeLeft", "NodeRefused", "AudioReceived", "AudioInvalid",
    "SegmentFailed", "Heartbeat", "Tick", "StealReply", "RevokeAck", "Compared",
    "Instruction", "Assign", "Accept", "Compare", "Discard", "Drop", "RequestSteal", "Revoke",
    "RemoveNode", "JobDone", "GiveUp",
    "JobStats", "NodeStats", "Progress", "Recovery", "Disagreement",
]
