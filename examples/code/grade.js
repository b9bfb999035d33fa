function grade(score, { curve = 0 } = {}) {
  const s = score + curve;
  if (s >= 90) {
    return 'A';
  } else if (s >= 80) {
    return 'B';
  }
  return s > 0 ? 'C' : 'F';
}

const grades = (scores) => scores.map((s) => grade(s) ?? '?');
