"""Backends translated to and from the canonical model behind the one :class:`BookingStore` port."""
