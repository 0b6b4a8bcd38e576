import os

os.environ.setdefault("CHATSITE_LOCAL", "1")
