"""Qt item models and view-models, kept apart from the widgets that show them."""
