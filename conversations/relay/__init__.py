"""The relay: runs each reply from its platform to every socket watching it.

The modules, one job each: `starts` begins each kind of turn; `turns` saves
it before anything goes upstream (checked by `policy`; `new_versions` for a
retry, regenerate or edit); `replies` streams it; `run` folds its events into
frames; `fanout` carries the frames to sockets here and in other processes
(`outbox` batches those for other processes);
`checkpoints` saves running replies, `state` reads saved ones, `sweep`
interrupts the replies of dead processes. This module is what the rest of the
site uses.
"""

from conversations.relay.fanout import (
    Hub,
    conversation_group,
    hear,
    refuse_if_stopping,
    running,
    stop_taking_turns,
    superseded,
    tell_every_socket,
)
from conversations.relay.policy import TurnRefused, mark_abandoned_replies
from conversations.relay.replies import (
    interrupt_all,
    resume,
    start_sweeping,
    stop_reply,
    unwatch,
    watch,
)
from conversations.relay.run import ReplyRun
from conversations.relay.starts import continue_after_approval, edit_and_resend, retry_reply, start_reply

__all__ = [
    "Hub",
    "ReplyRun",
    "TurnRefused",
    "continue_after_approval",
    "conversation_group",
    "edit_and_resend",
    "hear",
    "interrupt_all",
    "mark_abandoned_replies",
    "refuse_if_stopping",
    "resume",
    "retry_reply",
    "running",
    "start_reply",
    "start_sweeping",
    "stop_reply",
    "stop_taking_turns",
    "superseded",
    "tell_every_socket",
    "unwatch",
    "watch",
]
