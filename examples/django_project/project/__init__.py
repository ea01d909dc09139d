"""A minimal Django + DRF project that swapped djangorestframework-simplejwt for refreshkit."""
