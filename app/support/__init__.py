"""The support bundle (B24): what a user can send to support, read by them first."""
