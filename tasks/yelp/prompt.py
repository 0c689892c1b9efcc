"""The Yelp rating prompt: one template, used by the yelp tasks and by `harness train --format yelp`.

The wording is the one used in the field's Yelp fine-tuning recipes, so an adapter trained elsewhere on it is
evaluated on the prompt it saw. It asks for 1-5 stars; the data's labels are 0-4 (0 = one star), so the target is
label + 1. "Output:" ends the prompt with no trailing space: the target is joined with a single space
(lm-eval's target_delimiter), and many tokenizers encode " 4" and "4" differently.
"""

PROMPT = (
    "Instruction: The following is a user's review of a merchant. Please judge and output the corresponding "
    "five-star rating for this review.\nReview: {text}\nOutput:"
)


def clean_review(text: str) -> str:
    # yelp_review_full stores line breaks inside a review as the two characters backslash and n.
    return text.replace("\\n", "\n").strip()


def render_prompt(text: str) -> str:
    return PROMPT.format(text=clean_review(text))


def render_answer(label: int) -> str:
    """The training target for a 0-4 label: the star count as a digit."""
    return str(int(label) + 1)
