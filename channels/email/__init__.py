"""The email channel: composing notification emails and delivering them."""
