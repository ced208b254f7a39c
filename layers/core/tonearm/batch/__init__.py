"""``tonearm/batch``: one workflow over every object under a prefix (or a list of keys)."""
