"""Neural networks of the learners; no loss logic lives here."""
