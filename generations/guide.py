"""The model page's prompting guide, shown beside the form."""

PROMPT_STRUCTURE = (
    ("Subject", "who or what is in frame"),
    ("Action", "what is happening"),
    ("Scene", "location, time and atmosphere"),
    ("Camera", "framing, angle, lens vibe"),
    ("Lighting", "softbox, sunset, neon, rim light…"),
    ("Style", "realistic, illustration, film still…"),
)

PROMPT_PATTERN = (
    "A [shot type] of [subject] [action] in [scene]. [Lighting + mood]. [Camera/framing]. "
    "[Style cues]."
)

EXAMPLE_PROMPTS = (
    "A close-up portrait of a child in a yellow raincoat hugging a golden retriever after the "
    "rain, wet grass and a faint rainbow behind, soft natural light, warm mood, shallow depth "
    "of field.",
    "Wide shot of a cozy café interior at night, warm tungsten lighting, rain on the windows, "
    "cinematic composition, film still look.",
    "Studio product photo of a minimal sneaker on a clean background, softbox lighting, crisp "
    "shadows, premium advertising style.",
)

BEST_PRACTICES = (
    "Keep the first sentence concrete, then add camera and lighting constraints.",
    "Use guidance scale sparingly; moderate values often look more natural.",
    "For consistent iteration, fix the seed and change one thing at a time.",
)
