"""The stewards' review web app (``pindai review serve``): a queue of doubtful fields in a real
database (SQLite or PostgreSQL), leases, decisions, second opinions, accounts and an audit trail.

It sits above load/: it reads published releases, asks extract/ for crops through one function
(``review.crops``) and publishes through one adapter (``review.publish``)."""
