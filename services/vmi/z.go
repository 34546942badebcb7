package vmi

import "math"

// Z is the standard normal quantile of the service level p: the safety
// factor that covers demand with probability p. It uses Acklam's rational
// approximation (relative error below 1.15e-9), so that any service level in
// the tier file works without a lookup table. p is clamped to [0.5, 0.99999]:
// below 0.5 a safety stock would be negative.
func Z(p float64) float64 {
	p = min(max(p, 0.5), 0.99999)
	const pHigh = 1 - 0.02425
	if p <= pHigh {
		q := p - 0.5
		r := q * q
		return (((((-3.969683028665376e+01*r+2.209460984245205e+02)*r-2.759285104469687e+02)*r+1.383577518672690e+02)*r-3.066479806614716e+01)*r + 2.506628277459239e+00) * q /
			(((((-5.447609879822406e+01*r+1.615858368580409e+02)*r-1.556989798598866e+02)*r+6.680131188771972e+01)*r-1.328068155288572e+01)*r + 1)
	}
	q := math.Sqrt(-2 * math.Log(1-p))
	return -(((((-7.784894002430293e-03*q-3.223964580411365e-01)*q-2.400758277161838e+00)*q-2.549732539343734e+00)*q+4.374664141464968e+00)*q + 2.938163982698783e+00) /
		((((7.784695709041462e-03*q+3.224671290700398e-01)*q+2.445134137142996e+00)*q+3.754408661907416e+00)*q + 1)
}
