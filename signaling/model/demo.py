"""The demo event served by ``make run``: a free public summit on civic technology."""

from __future__ import annotations

from .event import Event
from .rounds import RoundTemplate
from .space import Space

DEMO_EVENT_ID = "podium-summit"

# (title, one-sentence description) of the twenty project booths, booth-01 to booth-20.
BOOTHS: tuple[tuple[str, str], ...] = (
    (
        "Council Minutes Search",
        "Searchable, timestamped transcripts of city council meetings, linked to every agenda "
        "item and vote.",
    ),
    (
        "Ballot in Plain Words",
        "Plain-language explanations of local ballot measures, written with librarians and "
        "reviewed by both sides.",
    ),
    (
        "Transit Pulse",
        "Rider reports of late buses and broken lifts, merged with open timetable data into a "
        "live map.",
    ),
    (
        "Tenant Toolkit",
        "Letter templates and deadline reminders that help renters get repairs made and "
        "deposits returned.",
    ),
    (
        "Open Budget Explorer",
        "An interactive view of a municipal budget, line by line, comparing plans with actual "
        "spending.",
    ),
    (
        "Street Air Watch",
        "A network of low-cost sensors that publishes open air-quality data street by street.",
    ),
    (
        "Claim Trail",
        "A shared archive of how viral claims were checked, by whom, and which sources settled "
        "them.",
    ),
    (
        "Tender Radar",
        "Flags unusual public contracts by analysing open procurement data across regions.",
    ),
    (
        "Clinic Compass",
        "A directory of free and low-cost clinics with opening hours, languages spoken and step-"
        "free access.",
    ),
    (
        "Open Lesson Commons",
        "Openly licensed lesson plans written, tested and peer-reviewed by teachers.",
    ),
    (
        "Step-Free Streets",
        "Volunteers map kerb cuts, ramps and lifts so wheelchair users can plan routes that work.",
    ),
    (
        "Newcomer Bridge",
        "Volunteer interpreters who accompany newcomers to appointments with public services.",
    ),
    (
        "Petition Tracker",
        "Follows every public petition from submission to the official response and what "
        "happened next.",
    ),
    (
        "Flood Ready Neighbours",
        "Street-level flood alerts and shared evacuation plans for neighbourhoods near rivers.",
    ),
    (
        "Surplus Food Match",
        "Matches unsold food from shops and markets with food banks and community kitchens nearby.",
    ),
    (
        "Digital Doorstep",
        "Free phone and home help for older people learning to use online public services.",
    ),
    (
        "Court Records Open",
        "Makes published court decisions searchable, with personal data removed before release.",
    ),
    (
        "Fix-It Finder",
        "A map of community repair events where volunteers mend appliances, bikes and clothes "
        "for free.",
    ),
    (
        "First Vote Lab",
        "Classroom kits and mock elections that prepare young people to vote for the first time.",
    ),
    (
        "Lobby Register Explorer",
        "Searchable records of meetings between lobbyists and officials, with the topics "
        "discussed.",
    ),
)

# (id, title, description) of the deep-dive breakouts.
DEEP_DIVES: tuple[tuple[str, str, str], ...] = (
    (
        "deep-education",
        "Education models",
        "How open materials, peer learning and public schools can teach for a digital society.",
    ),
    (
        "deep-health",
        "Health care",
        "Access to care, open health data and the tools patients and clinics actually use.",
    ),
    (
        "deep-information",
        "Trustworthy information",
        "Fact-checking, local journalism and keeping public information reliable.",
    ),
    (
        "deep-politics",
        "Politics and economy",
        "Transparency in government and markets: budgets, lobbying and public contracts.",
    ),
    (
        "deep-vulnerable",
        "Vulnerable groups",
        "Designing public services with and for people who are too often left out.",
    ),
)


def build_demo_event(now: float) -> Event:
    """The demo summit: a main stage, twenty project booths, five deep dives, a round template.

    ``now`` is accepted so that callers treat the demo like every other model entry point;
    the empty event it returns has no timestamps yet.
    """
    event = Event.create(
        DEMO_EVENT_ID,
        "Podium Summit 2026",
        "A free public summit on technology for the common good: talks and live Q&A on the "
        "main stage, project booths to meet the teams, deep dives and discussion rounds.",
    )
    event.add_space(
        Space(
            "main-stage",
            "stage",
            "Main stage",
            "Keynotes, panels and live Q&A. Raise your hand to ask a question on camera.",
            capacity=2000,
            speaker_seats=4,
            qa_slots=2,
        )
    )
    for number, (title, description) in enumerate(BOOTHS, start=1):
        event.add_space(Space(f"booth-{number:02d}", "booth", title, description, capacity=12))
    for space_id, title, description in DEEP_DIVES:
        event.add_space(Space(space_id, "breakout", title, description, capacity=30))
    event.add_template(
        RoundTemplate(
            id="discussion-round",
            title="Discussion round",
            room_count=5,
            duration_s=900.0,
            room_capacity=12,
        )
    )
    # The demo starts as a fresh event: its setup is not a history of changes.
    event.version = 0
    return event
