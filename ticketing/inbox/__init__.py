"""What people text to the hotline: members' commands, residents' ratings, and the replies."""
