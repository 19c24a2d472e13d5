"""Write ``reviews.csv``: 300 short product reviews for the embeddings notebook.

Deterministic (fixed seed): each review is put together from phrase banks for its
product category and sentiment, so the texts read naturally, vary, and carry real
meaning that an embedding model can pick up (battery life, comfort, taste ...).
Run ``python notebooks/data/make_reviews.py`` to regenerate the file.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

SEED = 7
PER_CATEGORY = 60

# category -> (products, {aspect: (positive phrases, negative phrases)})
CATEGORIES: dict[str, tuple[list[str], dict[str, tuple[list[str], list[str]]]]] = {
    "headphones": (
        ["Aurora ANC Headphones", "Pulse Buds Mini", "Studio Wave Over-Ear"],
        {
            "sound": (["the sound is rich with deep, clean bass",
                       "vocals come through crisp and detailed",
                       "music sounds balanced even at low volume"],
                      ["the sound is muddy and the treble hisses",
                       "bass distorts as soon as you turn it up",
                       "everything sounds thin and tinny"]),
            "battery": (["the battery easily lasts a full week of commuting",
                         "I get about thirty hours per charge",
                         "a ten-minute charge gives me a whole afternoon"],
                        ["the battery dies after barely four hours",
                         "they lose charge even when switched off",
                         "charging takes forever and never reaches full"]),
            "comfort": (["they stay comfortable through long flights",
                         "the ear cushions are soft and don't press",
                         "I forget I am wearing them"],
                        ["they pinch my ears after twenty minutes",
                         "the headband digs into my head",
                         "the earbuds keep falling out when I walk"]),
            "noise cancelling": (["the noise cancelling shuts out the train completely",
                                  "office chatter simply disappears",
                                  "noise cancelling makes open offices bearable"],
                                 ["noise cancelling barely dulls the engine hum",
                                  "there is an annoying hiss when ANC is on",
                                  "wind noise ruins every outdoor call"]),
        },
    ),
    "coffee maker": (
        ["BrewMaster 12-Cup", "Crema Pro Espresso", "PourEasy Drip"],
        {
            "taste": (["the coffee tastes smooth and never bitter",
                       "espresso comes out with a thick golden crema",
                       "it brings out the fruity notes of light roasts"],
                      ["the coffee tastes burnt and bitter",
                       "every cup is weak and watery",
                       "there is a plastic aftertaste in every brew"]),
            "speed": (["a full pot is ready in under five minutes",
                       "it heats up fast enough for rushed mornings",
                       "the timer has coffee waiting when I wake up"],
                      ["it takes ages to heat up",
                       "brewing a single pot takes over fifteen minutes",
                       "the timer randomly forgets its settings"]),
            "cleaning": (["the parts rinse clean in seconds",
                          "descaling is simple and the machine reminds you",
                          "everything removable goes in the dishwasher"],
                         ["grounds get stuck in places you cannot reach",
                          "the carafe stains and is hard to clean",
                          "it started leaking water after a month"]),
            "design": (["it looks great on the counter and takes little space",
                        "the controls are simple and clearly labelled",
                        "the carafe pours without dripping"],
                       ["it is bulky and loud",
                        "the buttons are confusing and the display is dim",
                        "the lid feels flimsy and rattles"]),
        },
    ),
    "running shoes": (
        ["Stride Cloud Runner", "TrailGrip 2", "Velocity Racer"],
        {
            "cushioning": (["the cushioning feels soft without being mushy",
                            "my knees feel fine even after long runs",
                            "they absorb impact well on pavement"],
                           ["the cushioning flattened after a few weeks",
                            "they feel hard and my shins ache",
                            "the sole is too stiff for easy runs"]),
            "fit": (["they fit true to size with a roomy toe box",
                     "the heel locks in and never slips",
                     "no blisters even on my first long run"],
                    ["they run half a size small",
                     "the heel slips no matter how I lace them",
                     "the seam rubs and gave me blisters"]),
            "grip": (["grip on wet trails is excellent",
                      "they hold the road well in the rain",
                      "I feel stable on gravel and mud"],
                     ["they slide on wet pavement",
                      "the outsole has no grip on muddy trails",
                      "I slipped twice on a damp bridge"]),
            "durability": (["they still look new after four hundred miles",
                            "the outsole shows hardly any wear",
                            "the upper has held up to rough trails"],
                           ["the mesh tore after a month",
                            "the sole started peeling off quickly",
                            "the tread wore smooth within weeks"]),
        },
    ),
    "laptop": (
        ["Nimbus 14 Ultrabook", "Forge 16 Pro", "Slate Air 13"],
        {
            "performance": (["it compiles code and edits video without breaking a sweat",
                             "dozens of browser tabs and it stays snappy",
                             "it runs local models surprisingly well"],
                            ["it stutters with more than a few tabs open",
                             "the fans roar and it throttles under load",
                             "apps take forever to launch"]),
            "battery": (["the battery lasts a whole working day",
                         "I get twelve hours of writing on one charge",
                         "it charges to eighty percent in under an hour"],
                        ["the battery barely lasts three hours",
                         "the battery drains overnight while asleep",
                         "it dies quickly even on light work"]),
            "screen": (["the screen is bright with accurate colours",
                        "text is razor sharp on the high-resolution display",
                        "the matte display works well outdoors"],
                       ["the screen is dim and washed out",
                        "there is noticeable backlight bleed",
                        "the glossy display reflects everything"]),
            "keyboard": (["the keyboard is a joy to type on",
                          "keys have good travel and a quiet click",
                          "the trackpad is large and precise"],
                         ["the keyboard feels mushy and shallow",
                          "some keys double-type",
                          "the trackpad misreads my clicks"]),
        },
    ),
    "novel": (
        ["The Salt Road", "Quiet Harbour", "A Map of Small Fires"],
        {
            "plot": (["the plot kept me up reading past midnight",
                      "the twists are surprising yet earned",
                      "the story builds to a moving ending"],
                     ["the plot drags through the middle",
                      "the ending feels rushed and unearned",
                      "I guessed every twist by chapter three"]),
            "characters": (["the characters feel like real people",
                            "I cared deeply about the two sisters",
                            "even the villain is believable and human"],
                           ["the characters are flat and forgettable",
                            "the narrator is hard to like",
                            "nobody behaves the way real people would"]),
            "writing": (["the prose is lyrical without being showy",
                         "the dialogue is sharp and often funny",
                         "every chapter has a sentence worth underlining"],
                        ["the prose is clumsy and repetitive",
                         "the dialogue sounds stilted",
                         "the writing is overwrought"]),
            "pacing": (["the pacing is perfect for a weekend read",
                        "short chapters make it hard to put down",
                        "it moves quickly without feeling thin"],
                       ["the pacing is painfully slow",
                        "long descriptions stall the story",
                        "it took me weeks to get through it"]),
        },
    ),
}

OPENERS = {
    "positive": ["Really happy with this.", "Love it.", "Exceeded my expectations.",
                 "Great value.", "Would buy again.", ""],
    "negative": ["Disappointed.", "Not worth the money.", "Returned it.",
                 "Expected much better.", "Avoid.", ""],
    "mixed": ["Mixed feelings.", "Good, not great.", "It is okay.",
              "Some things I like, some I don't.", ""],
}
CLOSERS = {
    "positive": ["Highly recommended.", "Five stars from me.", "No regrets at all.", ""],
    "negative": ["I would not recommend it.", "Save your money.", "One star.", ""],
    "mixed": ["Fine for the price.", "Might suit someone else better.", "Three stars.", ""],
}
RATINGS = {"positive": (4, 5), "negative": (1, 2), "mixed": (3, 3)}


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + "."


def review(rng: random.Random, aspects: dict[str, tuple[list[str], list[str]]],
           sentiment: str) -> tuple[str, str]:
    """One review text and the aspect it is mainly about."""
    names = rng.sample(sorted(aspects), 2)
    good, bad = aspects[names[0]]
    if sentiment == "positive":
        body = [_sentence(rng.choice(good))]
        if rng.random() < 0.6:
            body.append(_sentence(rng.choice(aspects[names[1]][0])))
    elif sentiment == "negative":
        body = [_sentence(rng.choice(bad))]
        if rng.random() < 0.6:
            body.append(_sentence(rng.choice(aspects[names[1]][1])))
    else:
        body = [_sentence(rng.choice(good)), "But " + rng.choice(aspects[names[1]][1]) + "."]
    parts = [rng.choice(OPENERS[sentiment]), *body, rng.choice(CLOSERS[sentiment])]
    return " ".join(p for p in parts if p), names[0]


def rows() -> list[dict[str, object]]:
    rng = random.Random(SEED)
    out: list[dict[str, object]] = []
    for category, (products, aspects) in CATEGORIES.items():
        for _ in range(PER_CATEGORY):
            sentiment = rng.choices(["positive", "negative", "mixed"], weights=[5, 3, 2])[0]
            text, aspect = review(rng, aspects, sentiment)
            out.append({"product": rng.choice(products), "category": category,
                        "aspect": aspect, "rating": rng.randint(*RATINGS[sentiment]),
                        "sentiment": sentiment, "review": text})
    rng.shuffle(out)
    return [{"id": i + 1, **row} for i, row in enumerate(out)]


def main() -> None:
    path = Path(__file__).with_name("reviews.csv")
    data = rows()
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(data[0]))
        writer.writeheader()
        writer.writerows(data)
    print(f"wrote {len(data)} reviews to {path}")


if __name__ == "__main__":
    main()
