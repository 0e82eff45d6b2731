"""``python -m characterlab`` runs the command line."""

from characterlab.cli import main

main()
