"""The Planon connector against the Planon sandbox, over real HTTP on loopback."""
