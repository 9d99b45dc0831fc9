"""What the hotline tells people: the words of every SMS, in the recipient's language, and
the outbox that holds them until a worker sends them."""
