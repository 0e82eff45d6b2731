"""A five-question Inspect task for checking that a model answers at all: ``inspect eval examples/tasks/capitals.py
--model characterlab/default --max-connections 16``.

It is the smallest real evaluation: plain questions, a substring scorer, nothing of characterlab's but the model.
"""

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import generate

CAPITALS = {"France": "Paris", "Italy": "Rome", "Japan": "Tokyo", "Spain": "Madrid", "Germany": "Berlin"}


@task
def capitals() -> Task:
    """Ask for five capitals; a reply is correct when it names the city."""
    samples = [
        Sample(input=f"What is the capital of {country}? Answer in one sentence.", target=city)
        for country, city in CAPITALS.items()
    ]
    return Task(dataset=samples, solver=generate(), scorer=includes())
