"""MusicFlow's message bands: a prediction (streams) → an emoji and a line of text.

=====================  =====  ==================================
prediction [streams]   emoji  text
=====================  =====  ==================================
< 0.3                  😐     This song needs to grow on me!
0.3 to < 0.5           🙂     Nice track!
0.5 to < 1.0           😃     Cool track!
1.0 to < 2.0           😄     OMG, how did I not know this song?
≥ 2.0                  😍     What a banger!
=====================  =====  ==================================
"""

from __future__ import annotations

from tonearm.prediction.schema import Message

#: (upper bound, emoji, text), ascending; the last band is open-ended.
BANDS: tuple[tuple[float, str, str], ...] = (
    (0.3, "😐", "This song needs to grow on me!"),
    (0.5, "🙂", "Nice track!"),
    (1.0, "😃", "Cool track!"),
    (2.0, "😄", "OMG, how did I not know this song?"),
    (float("inf"), "😍", "What a banger!"),
)


def message_for(prediction: float) -> Message:
    """The band ``prediction`` falls in."""
    for bound, emoji, text in BANDS:
        if prediction < bound:
            return Message(emoji=emoji, text=text)
    return Message(emoji=BANDS[-1][1], text=BANDS[-1][2])
