"""Labelled pairs of observations: does the second say the same thing as the first?

Used to choose and check the semantic duplicate threshold
(memory.observations.DUPLICATE_SIMILARITY). Same-meaning pairs are restatements
an agent produces in later conversations; different-meaning pairs are the
dangerous near misses — a changed place, number, name, time or a negation —
which must stay two memories (or become a new version, by supersedes).
"""

SAME = [
    ("The user prefers dark mode in their code editor.", "User prefers dark mode in the code editor"),
    ("Alex is allergic to peanuts.", "Alex has a peanut allergy."),
    (
        "The user's daughter Emma starts kindergarten in September.",
        "User's daughter Emma starts kindergarten in September",
    ),
    ("Prefers tea over coffee in the morning.", "In the morning the user prefers tea over coffee."),
    (
        "Works as a night-shift nurse at the city hospital.",
        "The user works night shifts as a nurse at the city hospital.",
    ),
    ("The user is training for the Berlin marathon.", "User is training for the Berlin Marathon."),
    ("Keeps project notes in Obsidian.", "The user keeps their project notes in Obsidian."),
    ("Their manager is called Priya.", "The user's manager is named Priya."),
    ("Uses vim keybindings everywhere.", "The user uses Vim key bindings everywhere."),
    ("The team deploys on Fridays.", "Deployments happen on Fridays for the team."),
    ("Drives a blue 2019 Subaru Outback.", "The user drives a blue Subaru Outback from 2019."),
    ("Wants code reviews to be short and direct.", "The user wants short, direct code reviews."),
]

DIFFERENT = [
    ("The user lives in Lisbon.", "The user lives in Porto."),
    ("Alex is allergic to peanuts.", "Alex is not allergic to peanuts."),
    (
        "The user's daughter Emma starts kindergarten in September.",
        "The user's son Leo starts kindergarten in September.",
    ),
    ("Prefers tea over coffee in the morning.", "Prefers coffee over tea in the morning."),
    ("The user is training for the Berlin marathon.", "The user is training for the Boston marathon."),
    ("Their manager is called Priya.", "Their manager is called Daniel."),
    ("The team deploys on Fridays.", "The team never deploys on Fridays."),
    ("Drives a blue 2019 Subaru Outback.", "Drives a red 2015 Honda Civic."),
    ("The user prefers dark mode in their code editor.", "The user prefers light mode in their code editor."),
    ("Meeting with the landlord is on Monday.", "Meeting with the landlord is on Thursday."),
    (
        "The budget for the kitchen renovation is 20,000 euros.",
        "The budget for the kitchen renovation is 35,000 euros.",
    ),
    ("Uses vim keybindings everywhere.", "Uses Emacs keybindings everywhere."),
    ("Wants code reviews to be short and direct.", "Wants code reviews to be detailed and thorough."),
    ("Is learning Spanish on Duolingo.", "Is learning Japanese on Duolingo."),
]
